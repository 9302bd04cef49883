// kiln/backend/vulkan/vm/op_runtime.hpp: runs the shader of one op call on the process's Vulkan
// device: a pipeline per distinct module (kept for the next call with the same shapes), the
// call's inputs (and the shader's table) copied into buffers the runtime keeps, one dispatch,
// the outputs copied back.
//
// This is the first form of the dynamic module on Vulkan: the module's memory stays on the
// host and every call moves its own data, which is correct for any mix of device and CPU
// kernels but spends most of its time in copies. Keeping the arena in device memory (and
// recording a whole run into one command buffer) is what comes next.
#pragma once

#include <vulkan/vulkan.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
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

  // Runs `shader`: copies its inputs in, dispatches, copies its outputs out.
  Status run(const OpShader& shader) {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::size_t count = shader.bindings();
    const std::size_t slots = shader.inputs.size() + shader.outputs.size();
    KILN_ASSIGN_OR_RETURN(Pipeline * p, pipeline(shader.words, count));
    if (buffers_.size() < count) buffers_.resize(count);
    std::vector<vk::DescriptorBufferInfo> infos(count);
    for (std::size_t i = 0; i < count; ++i) {
      const vm::Slot* slot = i < shader.inputs.size() ? shader.inputs[i] : i < slots ? shader.outputs[i - shader.inputs.size()] : nullptr;
      const std::size_t bytes = slot != nullptr ? span_bytes(*slot) : shader.table.size() * sizeof(std::uint32_t);
      if (!buffers_[i].handle() || buffers_[i].bytes() < bytes) {
        KILN_ASSIGN_OR_RETURN(buffers_[i], Buffer::create(device_, std::max<std::size_t>(bytes, 4), Memory::host_visible));
      }
      if (i < shader.inputs.size() && bytes > 0) std::memcpy(buffers_[i].data(), slot->data, bytes);
      if (slot == nullptr) std::memcpy(buffers_[i].data(), shader.table.data(), bytes);
      infos[i] = vk::DescriptorBufferInfo(buffers_[i].handle(), 0, VK_WHOLE_SIZE);
    }
    std::vector<vk::WriteDescriptorSet> writes(count);
    for (std::size_t i = 0; i < count; ++i)
      writes[i] = vk::WriteDescriptorSet(p->set, static_cast<std::uint32_t>(i), 0, vk::DescriptorType::eStorageBuffer, {}, infos[i]);
    const std::int64_t groups = (shader.invocations + kGroupSize - 1) / kGroupSize;
    const std::int64_t row = device_.properties().limits.maxComputeWorkGroupCount[0];
    const std::uint32_t x = static_cast<std::uint32_t>(std::min(groups, row));
    const std::uint32_t y = static_cast<std::uint32_t>(groups == 0 ? 0 : (groups + row - 1) / row);
    try {
      device_.handle().updateDescriptorSets(writes, {});
    } catch (const vk::SystemError& e) {
      return vulkan_error("binding an op's buffers", e);
    }
    if (groups > 0) {
      KILN_RETURN_IF_ERROR(device_.submit_and_wait([&](vk::CommandBuffer cb) {
        cb.bindPipeline(vk::PipelineBindPoint::eCompute, p->pipeline);
        cb.bindDescriptorSets(vk::PipelineBindPoint::eCompute, p->layout, 0, p->set, {});
        cb.dispatch(x, y, 1);
        cb.pipelineBarrier(vk::PipelineStageFlagBits::eComputeShader, vk::PipelineStageFlagBits::eHost, {},
                           vk::MemoryBarrier(vk::AccessFlagBits::eShaderWrite, vk::AccessFlagBits::eHostRead), {}, {});
      }));
    }
    for (std::size_t o = 0; o < shader.outputs.size(); ++o) {
      const vm::Slot* slot = shader.outputs[o];
      const std::size_t bytes = span_bytes(*slot);
      if (bytes > 0) std::memcpy(slot->data, buffers_[shader.inputs.size() + o].data(), bytes);
    }
    return {};
  }

  OpRuntime(const OpRuntime&) = delete;
  OpRuntime& operator=(const OpRuntime&) = delete;
  ~OpRuntime() {
    const vk::Device d = device_.handle();
    for (auto& [words, p] : pipelines_) {
      d.destroyDescriptorPool(p.pool);
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
    vk::DescriptorPool pool;
    vk::DescriptorSet set;
  };

  explicit OpRuntime(Device device) : device_(std::move(device)) {
    if (const char* dir = std::getenv("KILN_SPIRV_DIR")) module_dir_ = dir;
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

  // The bytes from a slot's first element to past its last (its strides may leave gaps).
  static std::size_t span_bytes(const vm::Slot& s) {
    if (s.elements() == 0) return 0;
    std::int64_t last = 0;
    for (int a = 0; a < s.rank; ++a) last += (s.dims[a] - 1) * s.strides[a];
    return static_cast<std::size_t>(last + 1) * size_of(s.dtype);
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
      const vk::DescriptorPoolSize size(vk::DescriptorType::eStorageBuffer, static_cast<std::uint32_t>(bindings));
      p.pool = d.createDescriptorPool(vk::DescriptorPoolCreateInfo({}, 1, size));
      p.set = d.allocateDescriptorSets(vk::DescriptorSetAllocateInfo(p.pool, p.set_layout))[0];
    } catch (const vk::SystemError& e) {
      return vulkan_error("creating an op's pipeline", e);
    }
    return &pipelines_.emplace(words, p).first->second;
  }

  Device device_;
  std::mutex mutex_;
  std::map<std::vector<std::uint32_t>, Pipeline> pipelines_;
  std::vector<Buffer> buffers_;
  std::string module_dir_;
};

} // namespace kiln::vulkan::vm_ops
