#include <doctest/doctest.h>

#include <kiln/runtime/dlpack.hpp>

#include <cstdint>
#include <vector>

using namespace kiln;

namespace {
// A DLManagedTensor as another library would hand it over, recording its deleter call.
struct Foreign {
  std::vector<std::int64_t> shape, strides;
  std::vector<unsigned char> bytes;
  DLManagedTensor managed{};
  int* deleted = nullptr;

  static DLManagedTensor* make(DLDataType dtype, std::vector<std::int64_t> shape, std::vector<std::int64_t> strides,
                               std::size_t nbytes, std::uint64_t byte_offset, int* deleted,
                               DLDeviceType device = kDLCPU) {
    auto* f = new Foreign;
    f->shape = std::move(shape);
    f->strides = std::move(strides);
    f->bytes.assign(nbytes, 0);
    f->deleted = deleted;
    DLTensor& t = f->managed.dl_tensor;
    t.data = f->bytes.data();
    t.device = {device, 0};
    t.ndim = static_cast<int>(f->shape.size());
    t.dtype = dtype;
    t.shape = f->shape.data();
    t.strides = f->strides.empty() ? nullptr : f->strides.data();
    t.byte_offset = byte_offset;
    f->managed.manager_ctx = f;
    f->managed.deleter = [](DLManagedTensor* self) {
      auto* owner = static_cast<Foreign*>(self->manager_ctx);
      ++*owner->deleted;
      delete owner;
    };
    return &f->managed;
  }
};
} // namespace

TEST_CASE("export to DLPack shares the storage and the deleter releases it") {
  auto t = Tensor::from_values<float>({2, 3}, {1, 2, 3, 4, 5, 6}).value();
  DLManagedTensor* m = to_dlpack(t).value();
  CHECK(m->dl_tensor.data == t.data());
  CHECK(m->dl_tensor.ndim == 2);
  CHECK(m->dl_tensor.shape[0] == 2);
  CHECK(m->dl_tensor.shape[1] == 3);
  CHECK(m->dl_tensor.strides[0] == 3);
  CHECK(m->dl_tensor.strides[1] == 1);
  CHECK(m->dl_tensor.dtype.code == kDLFloat);
  CHECK(m->dl_tensor.dtype.bits == 32);
  CHECK(m->dl_tensor.dtype.lanes == 1);
  CHECK(m->dl_tensor.device.device_type == kDLCPU);
  CHECK(t.use_count() == 2);
  t = Tensor();  // the export keeps the memory alive on its own
  CHECK(static_cast<float*>(m->dl_tensor.data)[5] == 6.0f);
  m->deleter(m);
}

TEST_CASE("round trip through DLPack for every exportable dtype is zero-copy") {
  for (DType dtype : kAllDTypes) {
    if (dtype == DType::boolean) continue;
    auto t = Tensor::zeros(dtype, {4, 5}).value();
    auto sliced = t.slice(1, 3).value();
    DLManagedTensor* m = to_dlpack(sliced).value();
    auto back = from_dlpack(m).value();  // owns m from here on
    CHECK(back.dtype() == dtype);
    CHECK(back.data() == sliced.data());
    CHECK(back.dim(0) == 2);
    CHECK(back.dim(1) == 5);
    CHECK(t.use_count() == 3);  // t, sliced and the export inside back
    back = Tensor();
    CHECK(t.use_count() == 2);  // back released the export, which dropped its share
  }
}

TEST_CASE("bool has no DLPack 0.6 type code and is refused by name") {
  auto t = Tensor::zeros(DType::boolean, {2}).value();
  auto m = to_dlpack(t);
  REQUIRE_FALSE(m.ok());
  CHECK(m.status().message() == "to_dlpack: DLPack 0.6 has no type code for bool");
}

TEST_CASE("import honours strides, byte offset and the deleter") {
  int deleted = 0;
  // A 3x2 int32 view with strides (1, 3) (a transposed 2x3) that starts 8 bytes in.
  DLManagedTensor* m = Foreign::make({kDLInt, 32, 1}, {3, 2}, {1, 3}, 8 + 6 * 4, 8, &deleted);
  auto* base = static_cast<std::int32_t*>(m->dl_tensor.data);
  for (int i = 0; i < 6; ++i) base[2 + i] = i * 10;  // element k of the span at base + 2
  {
    auto t = from_dlpack(m).value();
    CHECK(t.dtype() == DType::i32);
    CHECK_FALSE(t.is_contiguous());
    CHECK(t.at<std::int32_t>(0, 0) == 0);
    CHECK(t.at<std::int32_t>(2, 0) == 20);
    CHECK(t.at<std::int32_t>(1, 1) == 40);
    CHECK(t.at<std::int32_t>(2, 1) == 50);
    t.at<std::int32_t>(0, 1) = 7;  // zero copy: writes land in the foreign buffer
    CHECK(base[2 + 3] == 7);
    Tensor shared = t;
    t = Tensor();
    CHECK(deleted == 0);
  }
  CHECK(deleted == 1);
}

TEST_CASE("import without strides is row-major") {
  int deleted = 0;
  DLManagedTensor* m = Foreign::make({kDLFloat, 64, 1}, {2, 3}, {}, 6 * 8, 0, &deleted);
  static_cast<double*>(m->dl_tensor.data)[4] = 2.5;
  auto t = from_dlpack(m).value();
  CHECK(t.is_contiguous());
  CHECK(t.at<double>(1, 1) == 2.5);
  t = Tensor();
  CHECK(deleted == 1);
}

TEST_CASE("unsupported devices, dtypes and layouts are refused and ownership stays with the caller") {
  int deleted = 0;
  DLManagedTensor* cuda = Foreign::make({kDLFloat, 32, 1}, {4}, {}, 16, 0, &deleted, kDLCUDA);
  auto r = from_dlpack(cuda);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::unsupported);
  CHECK(r.status().message() ==
        "from_dlpack: memory on kDLCUDA (device id 0) cannot be imported; this build of kiln accepts kDLCPU");
  CHECK(deleted == 0);
  cuda->deleter(cuda);
  CHECK(deleted == 1);

  DLManagedTensor* complex = Foreign::make({kDLComplex, 64, 1}, {4}, {}, 32, 0, &deleted);
  CHECK(from_dlpack(complex).status().message() == "from_dlpack: DLPack dtype complex64 has no kiln dtype");
  complex->deleter(complex);

  DLManagedTensor* lanes = Foreign::make({kDLFloat, 32, 4}, {4}, {}, 64, 0, &deleted);
  CHECK(from_dlpack(lanes).status().message() == "from_dlpack: DLPack dtype float32x4 has no kiln dtype");
  lanes->deleter(lanes);

  DLManagedTensor* odd_offset = Foreign::make({kDLFloat, 32, 1}, {2}, {}, 16, 2, &deleted);
  CHECK(from_dlpack(odd_offset).status().message() ==
        "from_dlpack: byte_offset 2 is not a multiple of the f32 element size 4");
  odd_offset->deleter(odd_offset);

  DLManagedTensor* negative = Foreign::make({kDLFloat, 32, 1}, {2, 2}, {-2, 1}, 16, 0, &deleted);
  CHECK(from_dlpack(negative).status().code() == StatusCode::unsupported);
  negative->deleter(negative);

  DLManagedTensor* bad_dim = Foreign::make({kDLFloat, 32, 1}, {2, -1}, {}, 16, 0, &deleted);
  CHECK(from_dlpack(bad_dim).status().message() == "from_dlpack: Tensor::adopt: extent -1 on axis 1 of shape [2, -1] is negative");
  bad_dim->deleter(bad_dim);
  CHECK(deleted == 6);
  CHECK(from_dlpack(nullptr).status().code() == StatusCode::invalid_argument);
}
