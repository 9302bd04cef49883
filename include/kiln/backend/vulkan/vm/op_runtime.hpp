// kiln/backend/vulkan/vm/op_runtime.hpp: runs the shaders of a dynamic module's op calls on the
// process's Vulkan device, a whole run at a time. A pipeline is made per distinct module (and
// kept for the next call with the same shapes). Each call is recorded, not run: its inputs get
// device memory (the values an earlier recorded dispatch wrote are used where they lie; the
// rest is copied from host memory when the call is recorded), its outputs fresh device memory,
// its dispatch a descriptor set of its own. `sync` then runs every recorded dispatch in one
// command buffer, a barrier between each and the next, waits on its fence, and copies what the
// dispatches wrote (and nothing later overwrote) to host memory. The VM syncs where it reads or
// writes values itself (control flow, the end of a run: vm::RunHooks), and a call that runs on
// the CPU syncs first; a call outside a run (no hooks) syncs at once.
//
// The memory of a batch is host-visible chunks that every sync frees for the next: values
// written and read on the device never travel, but the module's weights are copied in on each
// run, and on a GPU with separate memory the dispatches read host-visible memory; keeping the
// arena and the weights in device-local memory is the next step.
#pragma once

#include <vulkan/vulkan.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../../../core/result.hpp"
#include "../../../core/status.hpp"
#include "../runtime/buffer.hpp"
#include "../runtime/device.hpp"
#include "op_shaders.hpp"

namespace kiln::vulkan::vm_ops {

class OpRuntime {
 public:
  // The runtime on the process's Vulkan device, made on first use; an error when there is no
  // device (the same error on every later call).
  static Result<OpRuntime*> get() {
    static std::once_flag once;
    static std::unique_ptr<OpRuntime> runtime;
    static Status failure;
    std::call_once(once, [] {
      auto device = Device::create();
      if (!device.ok()) {
        failure = std::move(device).status();
        return;
      }
      runtime.reset(new OpRuntime(std::move(*device)));
    });
    if (!runtime) return failure;
    return runtime.get();
  }

  const Device& device() const noexcept { return device_; }

  // A run of the VM begins or ends: calls in between are recorded until a sync.
  void begin_run() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++open_runs_;
  }
  Status end_run() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (open_runs_ > 0) --open_runs_;
    return sync_locked();
  }

  // Records `shader`; outside a run, runs it at once.
  Status run(const OpShader& shader) {
    std::lock_guard<std::mutex> lock(mutex_);
    KILN_RETURN_IF_ERROR(record(shader));
    return open_runs_ > 0 ? Status{} : sync_locked();
  }

  // Runs what is recorded and puts what it wrote in host memory.
  Status sync() {
    std::lock_guard<std::mutex> lock(mutex_);
    return sync_locked();
  }

  // How many command buffers the runtime has submitted (each a batch of dispatches).
  std::size_t submissions() {
    std::lock_guard<std::mutex> lock(mutex_);
    return submissions_;
  }

  // Whether host memory holds the current bytes of `slot` (no recorded dispatch wrote them
  // since the last sync); a call that reads a value on the host syncs first when not.
  bool on_host(const vm::Slot& slot) {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::byte* first = static_cast<const std::byte*>(slot.data);
    const std::size_t bytes = span_bytes(slot);
    for (const Written& w : written_)
      if (overlaps(w, first, bytes)) return false;
    return true;
  }

  OpRuntime(const OpRuntime&) = delete;
  OpRuntime& operator=(const OpRuntime&) = delete;
  ~OpRuntime() {
    const vk::Device d = device_.handle();
    for (vk::DescriptorPool pool : pools_) d.destroyDescriptorPool(pool);
    for (auto& [words, p] : pipelines_) {
      d.destroyPipeline(p.pipeline);
      d.destroyPipelineLayout(p.layout);
      d.destroyDescriptorSetLayout(p.set_layout);
      d.destroyShaderModule(p.module);
    }
  }

 private:
  struct Pipeline {
    vk::ShaderModule module;
    vk::DescriptorSetLayout set_layout;
    vk::PipelineLayout layout;
    vk::Pipeline pipeline;
  };
  // Device memory of a batch: bytes at `offset` of chunk `chunk`.
  struct Place {
    std::size_t chunk = 0;
    std::size_t offset = 0;
  };
  // Host bytes a recorded dispatch wrote, and where the device holds them.
  struct Written {
    std::byte* host = nullptr;
    std::size_t bytes = 0;
    Place place;
  };
  struct Dispatch {
    const Pipeline* pipeline = nullptr;
    vk::DescriptorSet set;
    std::uint32_t x = 0, y = 0;
  };

  // Sets and descriptors per pool; a batch takes pools as it needs them.
  static constexpr std::uint32_t kSetsPerPool = 256, kDescriptorsPerPool = 256 * 8;
  // Chunks of device memory are this large unless one value needs more.
  static constexpr std::size_t kChunkBytes = std::size_t{64} << 20;

  explicit OpRuntime(Device device) : device_(std::move(device)) {
    if (const char* dir = std::getenv("KILN_SPIRV_DIR")) module_dir_ = dir;
    binding_alignment_ = std::max<std::size_t>(1, device_.properties().limits.minStorageBufferOffsetAlignment);
    alignment_ = std::max<std::size_t>(64, binding_alignment_);
  }

  static bool overlaps(const Written& w, const std::byte* first, std::size_t bytes) {
    return bytes > 0 && w.bytes > 0 && first < w.host + w.bytes && w.host < first + bytes;
  }

  // The bytes from a slot's first element to past its last (its strides may leave gaps).
  static std::size_t span_bytes(const vm::Slot& s) {
    if (s.elements() == 0) return 0;
    std::int64_t last = 0;
    for (int a = 0; a < s.rank; ++a) last += (s.dims[a] - 1) * s.strides[a];
    return static_cast<std::size_t>(last + 1) * size_of(s.dtype);
  }

  Result<Place> allocate(std::size_t bytes) {
    bytes = std::max<std::size_t>(bytes, 4);
    std::size_t offset = (used_ + alignment_ - 1) / alignment_ * alignment_;
    if (chunk_ >= chunks_.size() || offset + bytes > chunks_[chunk_].bytes()) {
      // The next chunk, made (or made larger) as needed.
      if (chunk_ < chunks_.size() && used_ > 0) ++chunk_;
      if (chunk_ >= chunks_.size() || chunks_[chunk_].bytes() < bytes) {
        KILN_ASSIGN_OR_RETURN(Buffer b, Buffer::create(device_, std::max(bytes, kChunkBytes), Memory::host_visible));
        if (chunk_ < chunks_.size()) chunks_[chunk_] = std::move(b);
        else chunks_.push_back(std::move(b));
      }
      offset = 0;
    }
    used_ = offset + bytes;
    return Place{chunk_, offset};
  }
  std::byte* at(const Place& p) const { return static_cast<std::byte*>(chunks_[p.chunk].data()) + p.offset; }

  // Where the device reads an input: where a recorded dispatch wrote it, or a copy of host
  // memory made now. An input that a recorded dispatch wrote only in part (or that starts
  // where no binding may) syncs first.
  Result<Place> input_place(const void* data, std::size_t bytes) {
    const std::byte* first = static_cast<const std::byte*>(data);
    for (int pass = 0; pass < 2; ++pass) {
      bool partial = false;
      for (const Written& w : written_) {
        if (!overlaps(w, first, bytes)) continue;
        const std::size_t offset = w.place.offset + static_cast<std::size_t>(first - w.host);
        // A buffer binding starts at a multiple of the device's offset alignment.
        if (first >= w.host && first + bytes <= w.host + w.bytes && offset % binding_alignment_ == 0) return Place{w.place.chunk, offset};
        partial = true;
      }
      if (!partial) break;
      KILN_RETURN_IF_ERROR(sync_locked());
    }
    KILN_ASSIGN_OR_RETURN(Place p, allocate(bytes));
    if (bytes > 0) std::memcpy(at(p), first, bytes);
    return p;
  }

  Status record(const OpShader& shader) {
    const std::size_t count = shader.bindings();
    const std::size_t slots = shader.inputs.size() + shader.outputs.size();
    KILN_ASSIGN_OR_RETURN(Pipeline * p, pipeline(shader.words, count));
    std::vector<Place> places(count);
    std::vector<std::size_t> sizes(count);
    for (std::size_t i = 0; i < shader.inputs.size(); ++i) {
      sizes[i] = span_bytes(*shader.inputs[i]);
      KILN_ASSIGN_OR_RETURN(places[i], input_place(shader.inputs[i]->data, sizes[i]));
    }
    if (count > slots) {  // the table, copied in
      sizes[slots] = shader.table.size() * sizeof(std::uint32_t);
      KILN_ASSIGN_OR_RETURN(places[slots], allocate(sizes[slots]));
      if (sizes[slots] > 0) std::memcpy(at(places[slots]), shader.table.data(), sizes[slots]);
    }
    for (std::size_t o = 0; o < shader.outputs.size(); ++o) {
      const vm::Slot& out = *shader.outputs[o];
      const std::size_t i = shader.inputs.size() + o;
      sizes[i] = span_bytes(out);
      KILN_ASSIGN_OR_RETURN(places[i], allocate(sizes[i]));
      // The output supersedes what was written over its bytes before (the memory plan reuses
      // only dead values' memory, or an input's that this call consumes).
      std::byte* first = static_cast<std::byte*>(out.data);
      std::erase_if(written_, [&](const Written& w) { return overlaps(w, first, sizes[i]); });
      if (sizes[i] > 0) written_.push_back({first, sizes[i], places[i]});
    }
    const std::int64_t groups = (shader.invocations + kGroupSize - 1) / kGroupSize;
    if (groups == 0) return {};
    KILN_ASSIGN_OR_RETURN(vk::DescriptorSet set, descriptor_set(*p, count));
    std::vector<vk::DescriptorBufferInfo> infos(count);
    std::vector<vk::WriteDescriptorSet> writes(count);
    for (std::size_t i = 0; i < count; ++i) {
      infos[i] = vk::DescriptorBufferInfo(chunks_[places[i].chunk].handle(), places[i].offset, std::max<std::size_t>(sizes[i], 4));
      writes[i] = vk::WriteDescriptorSet(set, static_cast<std::uint32_t>(i), 0, vk::DescriptorType::eStorageBuffer, {}, infos[i]);
    }
    try {
      device_.handle().updateDescriptorSets(writes, {});
    } catch (const vk::SystemError& e) {
      return vulkan_error("binding an op's buffers", e);
    }
    const std::int64_t row = device_.properties().limits.maxComputeWorkGroupCount[0];
    dispatches_.push_back({p, set, static_cast<std::uint32_t>(std::min(groups, row)), static_cast<std::uint32_t>((groups + row - 1) / row)});
    return {};
  }

  Status sync_locked() {
    Status s;
    if (!dispatches_.empty()) {
      ++submissions_;
      s = device_.submit_and_wait([&](vk::CommandBuffer cb) {
        const vk::MemoryBarrier between(vk::AccessFlagBits::eShaderWrite, vk::AccessFlagBits::eShaderRead | vk::AccessFlagBits::eShaderWrite);
        for (std::size_t i = 0; i < dispatches_.size(); ++i) {
          const Dispatch& d = dispatches_[i];
          if (i > 0)
            cb.pipelineBarrier(vk::PipelineStageFlagBits::eComputeShader, vk::PipelineStageFlagBits::eComputeShader, {}, between, {}, {});
          cb.bindPipeline(vk::PipelineBindPoint::eCompute, d.pipeline->pipeline);
          cb.bindDescriptorSets(vk::PipelineBindPoint::eCompute, d.pipeline->layout, 0, d.set, {});
          cb.dispatch(d.x, d.y, 1);
        }
        cb.pipelineBarrier(vk::PipelineStageFlagBits::eComputeShader, vk::PipelineStageFlagBits::eHost, {},
                           vk::MemoryBarrier(vk::AccessFlagBits::eShaderWrite, vk::AccessFlagBits::eHostRead), {}, {});
      });
    }
    if (s.ok())
      for (const Written& w : written_) std::memcpy(w.host, at(w.place), w.bytes);
    // Whether or not the batch ran, the next one starts empty.
    written_.clear();
    dispatches_.clear();
    chunk_ = 0;
    used_ = 0;
    try {
      for (std::size_t i = 0; i < pools_.size() && i <= pool_; ++i) device_.handle().resetDescriptorPool(pools_[i]);
    } catch (const vk::SystemError& e) {
      if (s.ok()) s = vulkan_error("resetting descriptor pools", e);
    }
    pool_ = 0;
    pool_sets_ = 0;
    pool_descriptors_ = 0;
    return s;
  }

  Result<vk::DescriptorSet> descriptor_set(const Pipeline& p, std::size_t bindings) {
    const auto descriptors = static_cast<std::uint32_t>(bindings);
    try {
      if (pool_ < pools_.size() && (pool_sets_ == kSetsPerPool || pool_descriptors_ + descriptors > kDescriptorsPerPool)) {
        ++pool_;
        pool_sets_ = 0;
        pool_descriptors_ = 0;
      }
      if (pool_ >= pools_.size()) {
        const vk::DescriptorPoolSize size(vk::DescriptorType::eStorageBuffer, kDescriptorsPerPool);
        pools_.push_back(device_.handle().createDescriptorPool(vk::DescriptorPoolCreateInfo({}, kSetsPerPool, size)));
      }
      ++pool_sets_;
      pool_descriptors_ += descriptors;
      return device_.handle().allocateDescriptorSets(vk::DescriptorSetAllocateInfo(pools_[pool_], p.set_layout))[0];
    } catch (const vk::SystemError& e) {
      return vulkan_error("allocating an op's descriptor set", e);
    }
  }

  // With KILN_SPIRV_DIR set, each distinct module goes there as op_<n>.spv, for spirv-val or
  // spirv-dis (the test suite validates every module the node cases make).
  void write_module(const std::vector<std::uint32_t>& words) const {
    if (module_dir_.empty()) return;
    const std::string path = module_dir_ + "/op_" + std::to_string(pipelines_.size()) + ".spv";
    if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
      std::fwrite(words.data(), sizeof(std::uint32_t), words.size(), f);
      std::fclose(f);
    }
  }

  Result<Pipeline*> pipeline(const std::vector<std::uint32_t>& words, std::size_t bindings) {
    if (auto it = pipelines_.find(words); it != pipelines_.end()) return &it->second;
    const vk::Device d = device_.handle();
    write_module(words);
    Pipeline p;
    try {
      p.module = d.createShaderModule(vk::ShaderModuleCreateInfo({}, words.size() * 4, words.data()));
      std::vector<vk::DescriptorSetLayoutBinding> b(bindings);
      for (std::uint32_t i = 0; i < bindings; ++i)
        b[i] = vk::DescriptorSetLayoutBinding(i, vk::DescriptorType::eStorageBuffer, 1, vk::ShaderStageFlagBits::eCompute);
      p.set_layout = d.createDescriptorSetLayout(vk::DescriptorSetLayoutCreateInfo({}, b));
      p.layout = d.createPipelineLayout(vk::PipelineLayoutCreateInfo({}, p.set_layout));
      const vk::PipelineShaderStageCreateInfo stage({}, vk::ShaderStageFlagBits::eCompute, p.module, "main");
      auto made = d.createComputePipeline(device_.pipeline_cache(), vk::ComputePipelineCreateInfo({}, stage, p.layout));
      if (made.result != vk::Result::eSuccess) return make_error(StatusCode::unavailable, "vulkan: an op's pipeline was not created");
      p.pipeline = made.value;
    } catch (const vk::SystemError& e) {
      return vulkan_error("creating an op's pipeline", e);
    }
    return &pipelines_.emplace(words, p).first->second;
  }

  Device device_;
  std::mutex mutex_;
  std::map<std::vector<std::uint32_t>, Pipeline> pipelines_;
  std::string module_dir_;
  std::size_t alignment_ = 256, binding_alignment_ = 256;
  int open_runs_ = 0;
  std::size_t submissions_ = 0;
  // The batch: its memory, what its dispatches wrote, the dispatches, their descriptor sets.
  std::vector<Buffer> chunks_;
  std::size_t chunk_ = 0, used_ = 0;
  std::vector<Written> written_;
  std::vector<Dispatch> dispatches_;
  std::vector<vk::DescriptorPool> pools_;
  std::size_t pool_ = 0;
  std::uint32_t pool_sets_ = 0, pool_descriptors_ = 0;
};

} // namespace kiln::vulkan::vm_ops
