// kiln/backend/vulkan/kernel.hpp: a kernel on a Vulkan device: its SPIR-V module (emitted by
// kiln, at compile time or at run time), the compute pipeline, the descriptor set of its
// buffers and the dispatch. Named extents are bound from the arguments' shapes, as on the CPU,
// and reach the shader as push constants.
//
//   auto device = kiln::vulkan::Device::create();
//   auto kernel = kiln::vulkan::build(*device, C);               // default GPU schedule
//   KILN_RETURN_IF_ERROR((*kernel)(a_view, b_view, c_view));      // uploads, runs, downloads
#pragma once

#include <vulkan/vulkan.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <tuple>
#include <utility>
#include <vector>

#include "../../core/result.hpp"
#include "../../core/status.hpp"
#include "../../runtime/tensor_view.hpp"
#include "../../te/tensor.hpp"
#include "gpu_program.hpp"
#include "../../core/str_cat.hpp"
#include "../../runtime/tensor.hpp"
#include "runtime/buffer.hpp"
#include "runtime/device_tensor.hpp"
#include "runtime/device.hpp"
#include "shader_codegen.hpp"

namespace kiln::vulkan {

namespace detail {
template <class T> struct is_view : std::false_type {};
template <class T, class S, class St> struct is_view<TensorView<T, S, St>> : std::true_type {};

// The value of an index node of a loop program that reads only symbols (a loop's extent).
constexpr std::int64_t evaluate(const tir::LoopProgram& p, int node, const std::int64_t* symbols) noexcept {
  const tir::IndexNode& n = p.nodes[node];
  switch (n.op) {
    case tir::IndexNode::constant: return n.value;
    case tir::IndexNode::symbol: return symbols[n.value];
    case tir::IndexNode::loop_var: return 0;
    default: break;
  }
  const std::int64_t a = evaluate(p, n.a, symbols), b = evaluate(p, n.b, symbols);
  switch (n.op) {
    case tir::IndexNode::add: return a + b;
    case tir::IndexNode::sub: return a - b;
    case tir::IndexNode::mul: return a * b;
    case tir::IndexNode::floordiv: return b != 0 ? a / b : 0;
    case tir::IndexNode::floormod: return b != 0 ? a % b : 0;
    case tir::IndexNode::ceildiv: return b != 0 ? (a + b - 1) / b : 0;
    case tir::IndexNode::min: return a < b ? a : b;
    default: return 0;
  }
}
} // namespace detail

template <tir::Schedule S, class Last>
class Kernel {
  using Inputs = typename Last::inputs;
  using Stages = gpu_stages_t<Last>;
  using StageTuple = typename te::tuple_of<Stages>::type;
  static constexpr std::size_t kInputs = Inputs::size;
  static constexpr std::size_t kStages = Stages::size;
  static constexpr std::size_t kBindings = kInputs + kStages;  // the inputs, then one buffer per dispatch
  static constexpr std::size_t kArguments = kInputs + 1;       // the inputs, then the output
  static constexpr int kSymbols = tir::compute_spec<Last, Last>().symbol_count;
  template <std::size_t I>
  using stage_t = std::tuple_element_t<I, StageTuple>;
  template <std::size_t I>
  static constexpr GpuProgram program_of = lower_for_gpu<S, stage_t<I>, Last>();

 public:
  using compute_type = Last;

  // Pipelines from the modules of the kernel's dispatches, in order (emit_shaders, or
  // baked_shader for each).
  static Result<Kernel> create(const Device& device, std::span<const std::span<const std::uint32_t>> modules) {
    if (modules.size() != kStages)
      return make_error(StatusCode::invalid_argument, "vulkan: kernel ", Last::name.view(), " runs ", kStages, " dispatches, but ",
                        modules.size(), " modules were given");
    constexpr ShaderFeatures needs = features_of(te::concat_t<Inputs, Stages>{});
    if (needs.storage_16bit && !device.features().storage_16bit)
      return make_error(StatusCode::unsupported, "vulkan: kernel ", Last::name.view(), " has f16 buffers, but device ", device.name(),
                        " lacks 16-bit storage buffers (storageBuffer16BitAccess)");
    if (needs.storage_8bit && !device.features().storage_8bit)
      return make_error(StatusCode::unsupported, "vulkan: kernel ", Last::name.view(), " has 8-bit integer buffers, but device ",
                        device.name(), " lacks 8-bit storage buffers (storageBuffer8BitAccess)");
    Kernel k;
    k.device_ = &device;
    const vk::Device d = device.handle();
    try {
      std::array<vk::DescriptorSetLayoutBinding, kBindings> bindings;
      for (std::uint32_t i = 0; i < kBindings; ++i)
        bindings[i] = vk::DescriptorSetLayoutBinding(i, vk::DescriptorType::eStorageBuffer, 1, vk::ShaderStageFlagBits::eCompute);
      k.set_layout_ = d.createDescriptorSetLayout(vk::DescriptorSetLayoutCreateInfo({}, bindings));
      const vk::PushConstantRange range(vk::ShaderStageFlagBits::eCompute, 0, static_cast<std::uint32_t>(4 * kSymbols));
      vk::PipelineLayoutCreateInfo layout_info({}, k.set_layout_);
      if (kSymbols > 0) layout_info.setPushConstantRanges(range);
      k.layout_ = d.createPipelineLayout(layout_info);
      for (std::size_t i = 0; i < kStages; ++i) {
        if (modules[i].empty())
          return make_error(StatusCode::internal, "vulkan: kernel ", Last::name.view(), ": the module of dispatch ", i,
                            " is empty (an expression reads a loop variable of no stage)");
        k.modules_[i] = d.createShaderModule(vk::ShaderModuleCreateInfo({}, modules[i].size() * 4, modules[i].data()));
        const vk::PipelineShaderStageCreateInfo stage({}, vk::ShaderStageFlagBits::eCompute, k.modules_[i], "main");
        auto made = d.createComputePipeline(device.pipeline_cache(), vk::ComputePipelineCreateInfo({}, stage, k.layout_));
        if (made.result != vk::Result::eSuccess)
          return make_error(StatusCode::unavailable, "vulkan: kernel ", Last::name.view(), ": pipeline ", i, " was not created");
        k.pipelines_[i] = made.value;
      }
      const vk::DescriptorPoolSize pool_size(vk::DescriptorType::eStorageBuffer, static_cast<std::uint32_t>(kBindings));
      k.pool_ = d.createDescriptorPool(vk::DescriptorPoolCreateInfo({}, 1, pool_size));
      k.set_ = d.allocateDescriptorSets(vk::DescriptorSetAllocateInfo(k.pool_, k.set_layout_))[0];
    } catch (const vk::SystemError& e) {
      return vulkan_error("creating a kernel's pipelines", e);
    }
    return k;
  }

  Kernel(Kernel&& o) noexcept { *this = std::move(o); }
  Kernel& operator=(Kernel&& o) noexcept {
    if (this != &o) {
      release();
      device_ = std::exchange(o.device_, nullptr);
      modules_ = std::exchange(o.modules_, {});
      set_layout_ = std::exchange(o.set_layout_, {});
      layout_ = std::exchange(o.layout_, {});
      pipelines_ = std::exchange(o.pipelines_, {});
      pool_ = std::exchange(o.pool_, {});
      set_ = std::exchange(o.set_, {});
      intermediates_ = std::move(o.intermediates_);
      buffers_ = std::move(o.buffers_);
      staging_ = std::move(o.staging_);
    }
    return *this;
  }
  ~Kernel() { release(); }

  // The workgroups dispatch I (default: the last) runs for these extents: (x, y, z).
  template <std::size_t I = kStages - 1>
  Result<std::array<std::uint32_t, 3>> workgroups(const std::int64_t* symbols) const {
    constexpr const GpuProgram& g = program_of<I>;
    std::array<std::int64_t, 3> count = {1, 1, 1};
    for (int axis = 0; axis < 3; ++axis)
      if (const int loop = g.bound_loop[axis]; loop >= 0)
        count[static_cast<std::size_t>(axis)] = detail::evaluate(g.program, g.program.loops[loop].extent, symbols);
    const auto& limit = device_->properties().limits.maxComputeWorkGroupCount;
    // More workgroups on x than a row holds: fold them onto y (the shader adds the rows back).
    if (count[0] > limit[0] && g.bound_loop[1] < 0) {
      const std::int64_t row = limit[0];
      count[1] = (count[0] + row - 1) / row;
      count[0] = row;
    }
    std::array<std::uint32_t, 3> out{};
    for (std::size_t a = 0; a < 3; ++a) {
      if (count[a] > limit[a])
        return make_error(StatusCode::unsupported, "vulkan: kernel ", Last::name.view(), " needs ", count[a],
                          " workgroups on axis ", a, ", more than device ", device_->name(), " takes (", limit[a], ")");
      out[a] = static_cast<std::uint32_t>(count[a] < 1 ? 0 : count[a]);
    }
    return out;
  }

  // Runs on device buffers: the inputs in order of first use, then the output; `symbols`
  // holds the kernel's named extents in its symbol order. The reductions before the last
  // stage go to buffers the kernel keeps (made on the first run, grown when too small).
  Status run(std::span<const vk::Buffer> arguments, const std::int64_t* symbols) {
    return run(arguments, symbols, [](vk::CommandBuffer) {}, [](vk::CommandBuffer) {});
  }

  // Runs on host tensors: views of the inputs in order of first use, then of the output
  // (row-major). Their shapes bind the named extents; the data goes through buffers the kernel
  // keeps and reuses while they are large enough: mapped ones, or device-local ones filled and
  // read by copies through staging buffers where the device stages transfers.
  template <class... Views>
    requires(detail::is_view<Views>::value && ...)
  Status operator()(const Views&... views) {
    static_assert(sizeof...(Views) == kArguments, "kiln::vulkan::Kernel: pass every input (in order of first use) and then the output");
    auto args = std::forward_as_tuple(views...);
    std::int64_t symbols[tir::kMaxSymbols + 1] = {};
    std::array<std::size_t, kArguments> bytes{};
    Status status;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      auto one = [&]<std::size_t J>(std::integral_constant<std::size_t, J>) {
        const auto& view = std::get<J>(args);
        using V = std::remove_cvref_t<decltype(view)>;
        using Tensor_ = typename tensor_at<J>::type;
        static_assert(std::is_same_v<std::remove_const_t<typename V::element_type>, typename Tensor_::value_type>,
                      "kiln::vulkan::Kernel: an argument has the wrong element type");
        static_assert(V::rank == Tensor_::rank, "kiln::vulkan::Kernel: an argument has the wrong rank");
        static_assert(J + 1 < kArguments || !std::is_const_v<typename V::element_type>, "kiln::vulkan::Kernel: the output must be writable");
        if (status.ok() && !view.is_contiguous())
          status = make_error(StatusCode::invalid_argument, "vulkan: argument ", Tensor_::name.view(), " is not contiguous");
        std::array<std::int64_t, V::rank + 1> dims{};
        for (std::size_t a = 0; a < V::rank; ++a) dims[a] = view.shape()[a];
        shapes_[J].assign(dims.begin(), dims.begin() + V::rank);
        bytes[J] = static_cast<std::size_t>(view.size()) * sizeof(typename Tensor_::value_type);
      };
      (one(std::integral_constant<std::size_t, I>{}), ...);
    }(std::make_index_sequence<kArguments>{});
    KILN_RETURN_IF_ERROR(status);
    KILN_RETURN_IF_ERROR(bind_all(symbols));
    const bool staged = device_->stages_transfers();
    std::array<vk::Buffer, kArguments> handles{};
    for (std::size_t i = 0; i < kArguments; ++i) {
      KILN_RETURN_IF_ERROR(ensure(staging_[i], bytes[i], Memory::host_visible));
      if (staged) KILN_RETURN_IF_ERROR(ensure(buffers_[i], bytes[i], Memory::device_local));
      handles[i] = staged ? buffers_[i].handle() : staging_[i].handle();
    }
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((status = status.ok() && I + 1 < kArguments
                     ? staging_[I].upload(std::span<const std::byte>(reinterpret_cast<const std::byte*>(std::get<I>(args).data()), bytes[I]))
                     : status),
       ...);
    }(std::make_index_sequence<kArguments>{});
    KILN_RETURN_IF_ERROR(status);
    if (staged) {
      KILN_RETURN_IF_ERROR(run(handles, symbols,
                               [&](vk::CommandBuffer cb) {
                                 for (std::size_t i = 0; i + 1 < kArguments; ++i)
                                   if (bytes[i] > 0) cb.copyBuffer(staging_[i].handle(), buffers_[i].handle(), vk::BufferCopy(0, 0, bytes[i]));
                               },
                               [&](vk::CommandBuffer cb) {
                                 constexpr std::size_t out = kArguments - 1;
                                 if (bytes[out] > 0) cb.copyBuffer(buffers_[out].handle(), staging_[out].handle(), vk::BufferCopy(0, 0, bytes[out]));
                               }));
    } else {
      KILN_RETURN_IF_ERROR(run(handles, symbols));
    }
    auto& out = std::get<kArguments - 1>(args);
    return staging_[kArguments - 1].download(std::span<std::byte>(reinterpret_cast<std::byte*>(out.data()), bytes[kArguments - 1]));
  }

  // Runs on tensors in the device's memory (vulkan::empty_tensor, vulkan::upload): the data
  // stays on the device, nothing is copied.
  template <class... Tensors>
    requires(std::is_same_v<Tensors, Tensor> && ...)
  Status operator()(const Tensors&... tensors) {
    static_assert(sizeof...(Tensors) == kArguments, "kiln::vulkan::Kernel: pass every input (in order of first use) and then the output");
    const std::array<const Tensor*, kArguments> args = {&tensors...};
    std::array<vk::Buffer, kArguments> handles{};
    Status status;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      auto one = [&]<std::size_t J>(std::integral_constant<std::size_t, J>) {
        using Tensor_ = typename tensor_at<J>::type;
        const Tensor& t = *args[J];
        if (!status.ok()) return;
        auto handle = buffer_of(t);
        if (!handle.ok()) {
          status = std::move(handle).status().with_context(str_cat("vulkan: argument ", Tensor_::name.view()));
          return;
        }
        handles[J] = *handle;
        if (t.dtype() != dtype_v<typename Tensor_::value_type>)
          status = make_error(StatusCode::dtype_mismatch, "vulkan: argument ", Tensor_::name.view(), " holds ", to_string(t.dtype()),
                              " but the kernel expects ", to_string(dtype_v<typename Tensor_::value_type>));
        else if (t.rank() != static_cast<int>(Tensor_::rank))
          status = make_error(StatusCode::shape_mismatch, "vulkan: argument ", Tensor_::name.view(), " has rank ", t.rank(),
                              " but the kernel expects rank ", Tensor_::rank);
        else shapes_[J].assign(t.dims().begin(), t.dims().end());
      };
      (one(std::integral_constant<std::size_t, I>{}), ...);
    }(std::make_index_sequence<kArguments>{});
    KILN_RETURN_IF_ERROR(status);
    std::int64_t symbols[tir::kMaxSymbols + 1] = {};
    KILN_RETURN_IF_ERROR(bind_all(symbols));
    return run(handles, symbols);
  }

 private:
  Kernel() = default;

  // The tensor that argument I is: an input (in order of first use), or the output last.
  template <std::size_t I, bool IsInput = (I + 1 < kArguments)>
  struct tensor_at {
    using type = Last;
  };
  template <std::size_t I>
  struct tensor_at<I, true> {
    using type = std::tuple_element_t<I, typename te::tuple_of<Inputs>::type>;
  };

  // Checks argument I's extents (in shapes_) and binds the named extents it carries.
  template <std::size_t I>
  Status bind(std::int64_t* symbols, bool* bound) const {
    using Tensor_ = typename tensor_at<I>::type;
    const std::vector<std::int64_t>& dims = shapes_[I];
    Status s;
    std::size_t axis = 0;
    auto one = [&]<class E>(std::type_identity<E>) {
      const std::int64_t actual = dims[axis];
      if (s.ok()) {
        if constexpr (is_static_v<E>) {
          if (actual != E::value)
            s = make_error(StatusCode::shape_mismatch, "vulkan: argument ", Tensor_::name.view(), ": extent ", actual, " on axis ",
                           axis, " but the kernel was built for ", E::value);
        } else if constexpr (te::is_dim<E>::value) {
          constexpr int slot = tir::compute_spec<Last, Last>().symbol_slot_of(E::name);
          if (!bound[slot]) {
            symbols[slot] = actual;
            bound[slot] = true;
          } else if (symbols[slot] != actual) {
            s = make_error(StatusCode::shape_mismatch, "vulkan: argument ", Tensor_::name.view(), ": extent ", actual, " on axis ",
                           axis, " but ", E::name.view(), " = ", symbols[slot], " from an earlier argument");
          }
        }
      }
      ++axis;
    };
    [&]<class... Es>(te::Extents<Es...>) { (one(std::type_identity<Es>{}), ...); }(typename Tensor_::extents_type{});
    return s;
  }
  // Derived extents (n + 2, ...) checked once every name is bound.
  template <std::size_t I>
  Status check_derived(const std::int64_t* symbols) const {
    using Tensor_ = typename tensor_at<I>::type;
    const std::vector<std::int64_t>& dims = shapes_[I];
    Status s;
    std::size_t axis = 0;
    auto one = [&]<class E>(std::type_identity<E>) {
      if constexpr (te::is_derived<E>::value) {
        const std::int64_t expected = te::evaluate_extent<E>([symbols]<Name N>() {
          return symbols[tir::compute_spec<Last, Last>().symbol_slot_of(N)];
        });
        if (s.ok() && dims[axis] != expected)
          s = make_error(StatusCode::shape_mismatch, "vulkan: argument ", Tensor_::name.view(), ": extent ", dims[axis], " on axis ",
                         axis, " but ", te::extent_text<E>(), " = ", expected);
      }
      ++axis;
    };
    [&]<class... Es>(te::Extents<Es...>) { (one(std::type_identity<Es>{}), ...); }(typename Tensor_::extents_type{});
    return s;
  }
  // Every argument's extents (shapes_) against the kernel's: the named extents into `symbols`.
  Status bind_all(std::int64_t* symbols) const {
    bool bound[tir::kMaxSymbols + 1] = {};
    Status status;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((status = status.ok() ? bind<I>(symbols, bound) : status), ...);
      ((status = status.ok() ? check_derived<I>(symbols) : status), ...);
    }(std::make_index_sequence<kArguments>{});
    KILN_RETURN_IF_ERROR(status);
    for (int i = 0; i < kSymbols; ++i)
      if (!bound[i])
        return make_error(StatusCode::invalid_argument, "vulkan: kernel ", Last::name.view(), ": extent ",
                          tir::compute_spec<Last, Last>().symbols[i].view(), " is not the extent of any argument");
    return {};
  }
  Status ensure(Buffer& buffer, std::size_t bytes, Memory memory) {
    if (buffer.handle() && buffer.bytes() >= bytes) return {};
    KILN_ASSIGN_OR_RETURN(buffer, Buffer::create(*device_, bytes, memory));
    return {};
  }

  // The dispatches, with `before` and `after` recorded around them (copies of a staged run).
  template <class Before, class After>
  Status run(std::span<const vk::Buffer> arguments, const std::int64_t* symbols, Before&& before, After&& after) {
    if (arguments.size() != kArguments)
      return make_error(StatusCode::invalid_argument, "vulkan: kernel ", Last::name.view(), " takes ", kArguments, " buffers, not ",
                        arguments.size());
    std::array<std::int32_t, kSymbols + 1> pushed{};
    for (int i = 0; i < kSymbols; ++i) {
      if (symbols[i] < 0 || symbols[i] > std::numeric_limits<std::int32_t>::max())
        return make_error(StatusCode::unsupported, "vulkan: kernel ", Last::name.view(), ": extent ",
                          tir::compute_spec<Last, Last>().symbols[i].view(), " = ", symbols[i],
                          " does not fit the shader's 32-bit indices");
      pushed[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(symbols[i]);
    }
    KILN_RETURN_IF_ERROR(check_element_counts(symbols));
    std::array<std::array<std::uint32_t, 3>, kStages> groups{};
    Status status;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      auto one = [&]<std::size_t J>(std::integral_constant<std::size_t, J>) {
        if (!status.ok()) return;
        auto g = workgroups<J>(symbols);
        if (!g.ok()) status = std::move(g).status();
        else groups[J] = *g;
        if constexpr (J + 1 < kStages) {
          if (status.ok()) status = ensure_intermediate<J>(symbols);
        }
      };
      (one(std::integral_constant<std::size_t, I>{}), ...);
    }(std::make_index_sequence<kStages>{});
    KILN_RETURN_IF_ERROR(status);
    std::array<vk::DescriptorBufferInfo, kBindings> infos;
    std::array<vk::WriteDescriptorSet, kBindings> writes;
    for (std::uint32_t i = 0; i < kBindings; ++i) {
      const vk::Buffer b = i < kInputs ? arguments[i] : i + 1 < kBindings ? intermediates_[i - kInputs].handle() : arguments[kInputs];
      infos[i] = vk::DescriptorBufferInfo(b, 0, VK_WHOLE_SIZE);
      writes[i] = vk::WriteDescriptorSet(set_, i, 0, vk::DescriptorType::eStorageBuffer, {}, infos[i]);
    }
    try {
      device_->handle().updateDescriptorSets(writes, {});
    } catch (const vk::SystemError& e) {
      return vulkan_error("binding a kernel's buffers", e);
    }
    return device_->submit_and_wait([&](vk::CommandBuffer cb) {
      using Stage = vk::PipelineStageFlagBits;
      using Access = vk::AccessFlagBits;
      before(cb);
      // Copies in before the first dispatch reads; each dispatch reads what the ones before
      // it wrote; copies out after the last.
      cb.pipelineBarrier(Stage::eTransfer, Stage::eComputeShader, {}, vk::MemoryBarrier(Access::eTransferWrite, Access::eShaderRead), {}, {});
      cb.bindDescriptorSets(vk::PipelineBindPoint::eCompute, layout_, 0, set_, {});
      if constexpr (kSymbols > 0)
        cb.pushConstants(layout_, vk::ShaderStageFlagBits::eCompute, 0, static_cast<std::uint32_t>(4 * kSymbols), pushed.data());
      for (std::size_t i = 0; i < kStages; ++i) {
        if (i > 0)
          cb.pipelineBarrier(Stage::eComputeShader, Stage::eComputeShader, {}, vk::MemoryBarrier(Access::eShaderWrite, Access::eShaderRead), {}, {});
        if (groups[i][0] == 0 || groups[i][1] == 0 || groups[i][2] == 0) continue;  // an empty stage
        cb.bindPipeline(vk::PipelineBindPoint::eCompute, pipelines_[i]);
        cb.dispatch(groups[i][0], groups[i][1], groups[i][2]);
      }
      cb.pipelineBarrier(Stage::eComputeShader, Stage::eTransfer | Stage::eHost, {},
                         vk::MemoryBarrier(Access::eShaderWrite, Access::eTransferRead | Access::eHostRead), {}, {});
      after(cb);
      cb.pipelineBarrier(Stage::eTransfer, Stage::eHost, {}, vk::MemoryBarrier(Access::eTransferWrite, Access::eHostRead), {}, {});
    });
  }

  // The elements of a tensor of extents Es under these extents.
  template <class... Es>
  static std::int64_t element_count(te::Extents<Es...>, const std::int64_t* symbols) {
    std::int64_t count = 1;
    ((count *= te::evaluate_extent<Es>([symbols]<Name N>() { return symbols[tir::compute_spec<Last, Last>().symbol_slot_of(N)]; })),
     ...);
    return count;
  }
  // The shaders index elements in 32 bits: every input and stage must have fewer than 2^31.
  static Status check_element_counts(const std::int64_t* symbols) {
    Status status;
    auto check = [&]<class T>(std::type_identity<T>) {
      const std::int64_t n = element_count(typename T::extents_type{}, symbols);
      if (status.ok() && n > std::numeric_limits<std::int32_t>::max())
        status = make_error(StatusCode::unsupported, "vulkan: kernel ", Last::name.view(), ": ", T::name.view(), " has ", n,
                            " elements; the Vulkan backend indexes fewer than 2^31");
    };
    [&]<class... Ts>(te::TypeList<Ts...>) { (check(std::type_identity<Ts>{}), ...); }(te::concat_t<Inputs, Stages>{});
    return status;
  }

  // The buffer of dispatch I (not the last), large enough for these extents.
  template <std::size_t I>
  Status ensure_intermediate(const std::int64_t* symbols) {
    using St = stage_t<I>;
    const std::int64_t count = element_count(typename St::extents_type{}, symbols);
    const std::size_t bytes = static_cast<std::size_t>(std::max<std::int64_t>(count, 1)) * sizeof(typename St::value_type);
    if (intermediates_[I].handle() && intermediates_[I].bytes() >= bytes) return {};
    KILN_ASSIGN_OR_RETURN(intermediates_[I], Buffer::create(*device_, bytes, Memory::device_local));
    return {};
  }

  void release() noexcept {
    if (device_ == nullptr) return;
    const vk::Device d = device_->handle();
    if (pool_) d.destroyDescriptorPool(pool_);
    for (vk::Pipeline p : pipelines_)
      if (p) d.destroyPipeline(p);
    if (layout_) d.destroyPipelineLayout(layout_);
    if (set_layout_) d.destroyDescriptorSetLayout(set_layout_);
    for (vk::ShaderModule m : modules_)
      if (m) d.destroyShaderModule(m);
    device_ = nullptr;
  }

  const Device* device_ = nullptr;
  std::array<vk::ShaderModule, kStages> modules_{};
  vk::DescriptorSetLayout set_layout_;
  vk::PipelineLayout layout_;
  std::array<vk::Pipeline, kStages> pipelines_{};
  vk::DescriptorPool pool_;
  vk::DescriptorSet set_;
  std::array<Buffer, kStages> intermediates_;  // the last is unused: the output is the caller's
  // For runs on host tensors: the arguments' device-local buffers (staged devices) and the
  // mapped buffers their data goes through; the shapes of the last run's arguments.
  std::array<Buffer, kArguments> buffers_;
  std::array<Buffer, kArguments> staging_;
  std::array<std::vector<std::int64_t>, kArguments> shapes_;
};

// A kernel whose modules are emitted now (at run time), under schedule S.
template <tir::Schedule S, class Last>
Result<Kernel<S, Last>> build(const Device& device, const Last& last) {
  const std::vector<std::vector<std::uint32_t>> words = emit_shaders<S>(last);
  std::vector<std::span<const std::uint32_t>> modules(words.begin(), words.end());
  return Kernel<S, Last>::create(device, modules);
}
// The same under the default GPU schedule.
template <class Last>
Result<Kernel<default_gpu_schedule<Last>(), Last>> build(const Device& device, const Last& last) {
  return build<default_gpu_schedule<Last>()>(device, last);
}
// A kernel whose modules were assembled at compile time (baked_shader).
template <tir::Schedule S, const auto& Compute>
Result<Kernel<S, std::remove_cvref_t<decltype(Compute)>>> build_baked(const Device& device) {
  using Last = std::remove_cvref_t<decltype(Compute)>;
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    const std::array<std::span<const std::uint32_t>, sizeof...(I)> modules = {std::span<const std::uint32_t>(baked_shader<S, Compute, I>)...};
    return Kernel<S, Last>::create(device, modules);
  }(std::make_index_sequence<gpu_stages_t<Last>::size>{});
}

} // namespace kiln::vulkan
