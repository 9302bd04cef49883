// kiln/static_graph/model.hpp: Model<Graph>, a static graph ready to run on the CPU.
//
//   auto model = Model<Net>::create(&pool);          // one arena of Net::arena_bytes
//   model->bind("stem", stem_weights);              // weights, by name, checked
//   model->run({image});                            // allocates nothing
//   const vm::Slot& probabilities = model->output();
//
// create() allocates everything a run touches: the arena the compiler planned, the scratch
// the kernels ask for, and one prepared call per kernel. Fused loops are the compile-time
// FusedLoop instantiations; every other op runs the VM's CPU kernel for it (the same
// kernels a dynamic module runs), called with the static shapes. Each Model is one
// execution context: share a Graph type freely, but give each thread its own Model.
#pragma once

#include <array>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "../core/result.hpp"
#include "../core/status.hpp"
#include "../runtime/aligned_alloc.hpp"
#include "../runtime/tensor.hpp"
#include "../runtime/thread_pool.hpp"
#include "../vm/cpu_kernels.hpp"
#include "../vm/slot.hpp"
#include "fused_loop.hpp"
#include "graph.hpp"

namespace kiln::static_graph {

namespace detail {

// The relax attributes a kernel reads, from a node's static attribute value.
template <class N>
relax::Attrs kernel_attrs() {
  using A = std::remove_cvref_t<decltype(N::attrs)>;
  if constexpr (requires { N::attrs.to_attrs(); }) return N::attrs.to_attrs();
  else if constexpr (std::is_same_v<A, relax::NoAttrs>) return relax::default_attrs(N::op);
  else return relax::Attrs(N::attrs);
}

inline Status check_tensor(std::string_view role, std::string_view name, const Tensor& t, const StaticShape& want) {
  StaticShape given;
  if (t.defined()) {
    given.dtype = t.dtype();
    given.rank = t.rank();
    for (int a = 0; a < t.rank(); ++a) given.dims[a] = t.dim(a);
  }
  if (!t.defined() || !(given == want))
    return make_error(StatusCode::shape_mismatch, role, " '", name, "': expected ",
                      relax::to_string(want.tensor_type()), ", given ",
                      t.defined() ? relax::to_string(given.tensor_type()) : std::string("an undefined tensor"));
  if (!t.is_contiguous())
    return make_error(StatusCode::invalid_argument, role, " '", name, "': the tensor must be contiguous");
  return Status();
}

} // namespace detail

template <class G>
class Model {
 public:
  using Nodes = typename G::Nodes;
  static constexpr int node_count = G::node_count;
  static constexpr std::size_t arena_bytes = G::arena_bytes;

  // Allocates the arena and scratch and prepares every kernel call; fails when a kernel
  // cannot run an op of the graph (a dtype or attribute the CPU kernels lack).
  static Result<Model> create(ThreadPool* pool = nullptr) {
    Model model;
    model.state_ = std::make_unique<State>();
    State& s = *model.state_;
    s.pool = pool;
    if constexpr (arena_bytes > 0) {
      s.arena = static_cast<std::byte*>(aligned_alloc_bytes(arena_bytes, vm::kBufferAlignment));
      if (s.arena == nullptr) return make_error(StatusCode::out_of_memory, "static graph: no memory for the arena");
    }
    Status status;
    [&]<class... Ns>(TypeList<Ns...>) {
      int i = 0;
      ((status.ok() ? (status = model.template prepare<Ns>(i++), 0) : 0), ...);
    }(Nodes{});
    KILN_RETURN_IF_ERROR(status);
    if (s.scratch_bytes > 0) {
      s.scratch = static_cast<std::byte*>(aligned_alloc_bytes(s.scratch_bytes, vm::kBufferAlignment));
      if (s.scratch == nullptr) return make_error(StatusCode::out_of_memory, "static graph: no memory for scratch");
      for (int i = 0; i < node_count; ++i)
        if (G::node(i).role == Role::kernel)
          s.calls[idx(i)].scratch = std::span<std::byte>(s.scratch, s.scratch_bytes);
    }
    return model;
  }

  // Binds weight `name` to `weight` (its dtype and dims must be the declared ones). The
  // model keeps a reference to the tensor's memory; it does not copy it.
  Status bind(std::string_view name, const Tensor& weight) {
    State& s = *state_;
    for (int i = 0; i < node_count; ++i) {
      if (G::node(i).role != Role::weight || G::name_of(i) != name) continue;
      KILN_RETURN_IF_ERROR(detail::check_tensor("weight", name, weight, G::node(i).shape));
      s.bound[idx(i)] = weight;
      s.slots[idx(i)].data = weight.data();
      return Status();
    }
    std::string names;
    for (int i = 0; i < node_count; ++i)
      if (G::node(i).role == Role::weight) names += str_cat(names.empty() ? "" : ", ", G::name_of(i));
    return make_error(StatusCode::not_found, "static graph: no weight named '", name, "' (its weights: ", names, ")");
  }

  // Runs the graph on `inputs` (in the order of the graph's inputs(...)). Allocates nothing.
  Status run(std::span<const Tensor> inputs) {
    State& s = *state_;
    if (inputs.size() != G::input_nodes.size())
      return make_error(StatusCode::invalid_argument, "static graph: takes ", G::input_nodes.size(), " inputs, given ",
                        inputs.size());
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      const int i = G::input_nodes[k];
      KILN_RETURN_IF_ERROR(detail::check_tensor("input", param_name(i), inputs[k], G::node(i).shape));
      s.slots[idx(i)].data = inputs[k].data();
    }
    for (int i = 0; i < node_count; ++i) {
      const NodeInfo& n = G::node(i);
      if (n.role == Role::weight && s.slots[idx(i)].data == nullptr)
        return make_error(StatusCode::invalid_argument, "static graph: weight '", param_name(i), "' is not bound");
      if (n.role == Role::view && n.storage < 0) s.slots[idx(i)].data = s.slots[idx(n.inputs[0])].data;
    }
    Status status;
    [&]<class... Ns>(TypeList<Ns...>) {
      int i = 0;
      ((status.ok() ? (status = execute<Ns>(i++), 0) : (++i, 0)), ...);
    }(Nodes{});
    return status;
  }
  Status run(std::initializer_list<Tensor> inputs) { return run(std::span<const Tensor>(inputs.begin(), inputs.size())); }

  // Output i after a run: the slot points into the arena (valid until the next run).
  const vm::Slot& output(int i = 0) const noexcept { return state_->slots[idx(G::outputs[static_cast<std::size_t>(i)])]; }
  std::size_t scratch_bytes() const noexcept { return state_->scratch_bytes; }

 private:
  struct State {
    ThreadPool* pool = nullptr;
    std::byte* arena = nullptr;
    std::byte* scratch = nullptr;
    std::size_t scratch_bytes = 0;
    std::array<vm::Slot, node_count> slots{};
    std::array<Tensor, node_count> bound{};
    std::array<relax::Attrs, node_count> attrs{};
    std::array<std::array<const vm::Slot*, kMaxNodeInputs>, node_count> inputs{};
    // A kernel's outputs: its own slot, then those of its op's further outputs (topk's
    // indices), which live in its buffer whether or not the graph names them.
    std::array<std::array<const vm::Slot*, G::max_parts>, node_count> outputs{};
    std::array<std::array<vm::Slot, G::max_parts>, node_count> part_slots{};
    std::array<vm::OpCall, node_count> calls{};
    std::array<const vm::OpKernel*, node_count> kernels{};

    State() = default;
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    ~State() {
      aligned_free(arena);
      aligned_free(scratch);
    }
  };

  static constexpr std::size_t idx(int i) noexcept { return static_cast<std::size_t>(i); }
  static std::string param_name(int i) { return G::name_of(i); }

  template <class N>
  Status prepare(int i) {
    State& s = *state_;
    const NodeInfo& n = G::node(i);
    vm::Slot& slot = s.slots[idx(i)];
    slot.dtype = n.shape.dtype;
    slot.set_shape(std::span<const std::int64_t>(n.shape.dims, static_cast<std::size_t>(n.shape.rank)));
    if (n.storage >= 0) slot.data = s.arena + G::offset_of(i);
    if constexpr (!N::is_param && !N::is_part) {
      if (n.role != Role::kernel) return Status();
      const std::string_view op = relax::op_info(N::op).name;
      s.kernels[idx(i)] = vm::cpu_kernel(N::op);
      if (s.kernels[idx(i)] == nullptr)
        return make_error(StatusCode::unsupported, "static graph: ", op, " has no CPU kernel");
      s.attrs[idx(i)] = detail::kernel_attrs<N>();
      if (!relax::attrs_fit(N::op, s.attrs[idx(i)]))
        return make_error(StatusCode::invalid_argument, "static graph: ", op, " was given the attributes of another op");
      // The kernel's own check, on a one-binding function with the node's types.
      relax::Function fn;
      relax::Binding binding;
      binding.op = N::op;
      binding.attrs = s.attrs[idx(i)];
      for (int k = 0; k < n.input_count; ++k) {
        const int in = n.inputs[k];
        s.inputs[idx(i)][idx(k)] = in < 0 ? nullptr : &s.slots[idx(in)];
        if (in < 0) {
          binding.inputs.push_back(relax::kNoValue);
          continue;
        }
        relax::Value v;
        v.kind = relax::ValueKind::param;
        v.type = G::node(in).shape.tensor_type();
        binding.inputs.push_back(static_cast<relax::ValueId>(fn.values.size()));
        fn.values.push_back(std::move(v));
      }
      s.outputs[idx(i)][0] = &slot;
      // The outputs' shapes and offsets as constants: a run-time call of N::output_type()
      // would keep the node's whole inference result (about 70 KB) in the binary.
      static constexpr auto part_shapes = [] {
        std::array<StaticShape, N::output_count> shapes{};
        for (int part = 0; part < N::output_count; ++part) shapes[idx(part)] = static_shape_of(N::output_type(part));
        return shapes;
      }();
      static constexpr auto part_offsets = [] {
        std::array<std::size_t, N::output_count> offsets{};
        for (int part = 0; part < N::output_count; ++part) offsets[idx(part)] = N::part_offset(part);
        return offsets;
      }();
      for (int part = 0; part < N::output_count; ++part) {
        relax::Value out;
        out.type = part_shapes[idx(part)].tensor_type();
        binding.outputs.push_back(static_cast<relax::ValueId>(fn.values.size()));
        fn.values.push_back(std::move(out));
        if (part == 0) continue;
        vm::Slot& extra = s.part_slots[idx(i)][idx(part)];
        const StaticShape& shape = part_shapes[idx(part)];
        extra.dtype = shape.dtype;
        extra.set_shape(std::span<const std::int64_t>(shape.dims, static_cast<std::size_t>(shape.rank)));
        extra.data = static_cast<std::byte*>(slot.data) + part_offsets[idx(part)];
        s.outputs[idx(i)][idx(part)] = &extra;
      }
      if (s.kernels[idx(i)]->supports != nullptr) KILN_RETURN_IF_ERROR(s.kernels[idx(i)]->supports(binding, fn));
      vm::OpCall& call = s.calls[idx(i)];
      call.op = N::op;
      call.attrs = &s.attrs[idx(i)];
      call.inputs = std::span<const vm::Slot* const>(s.inputs[idx(i)].data(), idx(n.input_count));
      call.outputs = std::span<const vm::Slot* const>(s.outputs[idx(i)].data(), idx(N::output_count));
      call.pool = s.pool;
      if (s.kernels[idx(i)]->scratch_bytes != nullptr)
        s.scratch_bytes = std::max(s.scratch_bytes, vm::align_up(s.kernels[idx(i)]->scratch_bytes(call)));
    }
    return Status();
  }

  template <class N>
  Status execute(int i) {
    if constexpr (N::is_param || N::is_part) {
      return Status();
    } else {
      State& s = *state_;
      const NodeInfo& n = G::node(i);
      if (n.role == Role::kernel) return s.kernels[idx(i)]->run(s.calls[idx(i)]);
      if constexpr (detail::is_fusable(N::op)) {
        if (n.role == Role::fused) {
          constexpr int index = G::template index_of<N>;
          using Loop = FusedLoop<G, index>;
          std::array<const float*, Loop::kMaxLeaves> leaves{};
          for (int j = 0; j < Loop::layout.leaf_count; ++j)
            leaves[idx(j)] = static_cast<const float*>(s.slots[idx(Loop::layout.leaves[j])].data);
          Loop::template run<N>(leaves.data(), static_cast<float*>(s.slots[idx(i)].data), s.pool);
        }
      }
      return Status();
    }
  }

  std::unique_ptr<State> state_;
};

} // namespace kiln::static_graph
