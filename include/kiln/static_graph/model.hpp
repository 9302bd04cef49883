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
// kernels a dynamic module runs), called with the static shapes; a user kernel's call runs
// the kernel; an if or a loop runs the Model of its branch or body, made at create() with an
// arena of its own, and copies that graph's outputs into its buffer. Each Model is one
// execution context: share a Graph type freely, but give each thread its own Model.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include "../core/result.hpp"
#include "../core/status.hpp"
#include "../runtime/aligned_alloc.hpp"
#include "../runtime/tensor.hpp"
#include "../runtime/thread_pool.hpp"
#include "../vm/cpu_kernels.hpp"
#include "../vm/slot.hpp"
#include "control_flow.hpp"
#include "fused_loop.hpp"
#include "graph.hpp"
#include "kernel_call.hpp"

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
class Model;

namespace detail {

// What a node runs besides its own kernel: a branch's or a loop body's own Model.
template <class N>
struct Nested {};
template <class Then, class Else, class Cond, class... Args>
struct Nested<IfNode<Then, Else, Cond, Args...>> {
  Model<Then> then_model;
  Model<Else> else_model;
};
template <class Body, class Trips, class... Carried>
struct Nested<LoopNode<Body, Trips, Carried...>> {
  Model<Body> body;
  std::int64_t iteration = 0;  // the body's first input
};

template <class N>
inline constexpr bool has_nested = !std::is_empty_v<Nested<N>>;

template <class... Ns>
auto nested_tuple(TypeList<Ns...>)
    -> decltype(std::tuple_cat(std::declval<std::conditional_t<has_nested<Ns>, std::tuple<Nested<Ns>>, std::tuple<>>>()...));

} // namespace detail

template <class G>
class Model {
  template <class>
  friend class Model;

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
  // A weight of a branch or loop body is bound through the graph that runs it; a name that
  // several of them use binds them all.
  Status bind(std::string_view name, const Tensor& weight) {
    Result<bool> found = bind_found(name, weight);
    KILN_RETURN_IF_ERROR(found.status());
    if (*found) return Status();
    return make_error(StatusCode::not_found, "static graph: no weight named '", name, "' (its weights: ",
                      weight_names(), ")");
  }

  // The names of the weights, those of branches and loop bodies included.
  static std::string weight_names() {
    std::string names;
    const auto add = [&](const std::string& more) {
      if (!more.empty()) names += str_cat(names.empty() ? "" : ", ", more);
    };
    for (int i = 0; i < node_count; ++i)
      if (G::node(i).role == Role::weight) add(G::name_of(i));
    [&]<class... Ns>(TypeList<Ns...>) {
      const auto sub = [&]<class N>() {
        if constexpr (is_if<N>) {
          add(Model<typename N::then_graph>::weight_names());
          add(Model<typename N::else_graph>::weight_names());
        } else if constexpr (is_loop<N>) {
          add(Model<typename N::body_graph>::weight_names());
        }
      };
      (sub.template operator()<Ns>(), ...);
    }(Nodes{});
    return names;
  }

  // Runs the graph on `inputs` (in the order of the graph's inputs(...)). Allocates nothing.
  Status run(std::span<const Tensor> inputs) {
    if (inputs.size() != G::input_nodes.size())
      return make_error(StatusCode::invalid_argument, "static graph: takes ", G::input_nodes.size(), " inputs, given ",
                        inputs.size());
    std::array<const void*, G::input_nodes.size()> data{};
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      KILN_RETURN_IF_ERROR(detail::check_tensor("input", G::input_names[k], inputs[k], G::input_shapes[k]));
      data[k] = inputs[k].data();
    }
    KILN_RETURN_IF_ERROR(check_bound());
    return run_on(data);
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
    decltype(detail::nested_tuple(Nodes{})) nested{};

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
  static constexpr bool is_if = requires { typename N::then_graph; };
  template <class N>
  static constexpr bool is_loop = requires { typename N::body_graph; };

  template <class N>
  auto& nested() noexcept {
    return std::get<detail::Nested<N>>(state_->nested);
  }

  // Binds `name` here and in every nested graph; whether any had it.
  Result<bool> bind_found(std::string_view name, const Tensor& weight) {
    State& s = *state_;
    bool found = false;
    for (int i = 0; i < node_count; ++i) {
      if (G::node(i).role != Role::weight || G::name_of(i) != name) continue;
      KILN_RETURN_IF_ERROR(detail::check_tensor("weight", name, weight, G::node(i).shape));
      s.bound[idx(i)] = weight;
      s.slots[idx(i)].data = weight.data();
      found = true;
    }
    Status status;
    [&]<class... Ns>(TypeList<Ns...>) {
      const auto sub = [&]<class N>() {
        const auto into = [&](auto& model) {
          if (!status.ok()) return;
          Result<bool> r = model.bind_found(name, weight);
          if (!r.ok()) status = r.status();
          else found = found || *r;
        };
        if constexpr (is_if<N>) {
          into(nested<N>().then_model);
          into(nested<N>().else_model);
        } else if constexpr (is_loop<N>) {
          into(nested<N>().body);
        }
      };
      (sub.template operator()<Ns>(), ...);
    }(Nodes{});
    KILN_RETURN_IF_ERROR(status);
    return found;
  }

  // Every weight bound, nested graphs' included (a branch not taken this run too).
  Status check_bound() const {
    for (int i = 0; i < node_count; ++i)
      if (G::node(i).role == Role::weight && state_->slots[idx(i)].data == nullptr)
        return make_error(StatusCode::invalid_argument, "static graph: weight '", param_name(i), "' is not bound");
    Status status;
    [&]<class... Ns>(TypeList<Ns...>) {
      const auto sub = [&]<class N>() {
        if (!status.ok()) return;
        if constexpr (is_if<N>) {
          const auto& n = std::get<detail::Nested<N>>(state_->nested);
          status = n.then_model.check_bound();
          if (status.ok()) status = n.else_model.check_bound();
        } else if constexpr (is_loop<N>) {
          status = std::get<detail::Nested<N>>(state_->nested).body.check_bound();
        }
      };
      (sub.template operator()<Ns>(), ...);
    }(Nodes{});
    return status;
  }

  // Runs with input k's elements at data[k] (checked by the caller, or planned by the graph
  // that runs this one).
  Status run_on(std::span<const void* const> data) {
    State& s = *state_;
    for (std::size_t k = 0; k < data.size(); ++k)
      if (const int i = G::input_nodes[k]; i >= 0) s.slots[idx(i)].data = const_cast<void*>(data[k]);
    for (int i = 0; i < node_count; ++i) {
      const NodeInfo& n = G::node(i);
      if (n.role == Role::view && n.storage < 0) s.slots[idx(i)].data = s.slots[idx(n.inputs[0])].data;
    }
    Status status;
    [&]<class... Ns>(TypeList<Ns...>) {
      int i = 0;
      ((status.ok() ? (status = execute<Ns>(i++), 0) : (++i, 0)), ...);
    }(Nodes{});
    return status;
  }

  // Output p of node i (its memory in the node's buffer, copy 0).
  void* part_data(int i, int p) const noexcept { return state_->outputs[idx(i)][idx(p)]->data; }

  // Copies the outputs of a branch or body that just ran into copy `c` of node i's buffer.
  template <class N, class Sub>
  void take_outputs(int i, const Sub& sub, std::size_t c) {
    for (int p = 0; p < N::output_count; ++p) {
      const std::size_t bytes = static_shape_of(N::output_type(p)).bytes();
      std::memcpy(static_cast<std::byte*>(part_data(i, p)) + N::copy_offset(c), sub.output(p).data, bytes);
    }
  }

  template <class N>
  Status run_if(int i) {
    State& s = *state_;
    const NodeInfo& n = G::node(i);
    const bool flag = *static_cast<const bool*>(s.slots[idx(n.inputs[0])].data);
    std::array<const void*, static_cast<std::size_t>(kMaxNodeInputs)> args{};
    for (int k = 1; k < n.input_count; ++k) args[idx(k - 1)] = s.slots[idx(n.inputs[k])].data;
    const std::span<const void* const> data(args.data(), idx(n.input_count - 1));
    auto& models = nested<N>();
    const auto branch = [&](auto& model, std::string_view which) -> Status {
      if (Status st = model.run_on(data); !st.ok())
        return make_error(st.code(), "static graph: ", G::name_of(i), " = if, ", which, " graph: ", st.message());
      take_outputs<N>(i, model, 0);
      return Status();
    };
    return flag ? branch(models.then_model, "then") : branch(models.else_model, "else");
  }

  // Iteration k reads copy k % 2 of the carried values and writes the other.
  template <class N>
  Status run_loop(int i) {
    State& s = *state_;
    const NodeInfo& n = G::node(i);
    const std::int64_t trips = *static_cast<const std::int64_t*>(s.slots[idx(n.inputs[0])].data);
    for (int p = 0; p < N::output_count; ++p)
      std::memcpy(part_data(i, p), s.slots[idx(n.inputs[p + 1])].data, static_shape_of(N::output_type(p)).bytes());
    auto& body = nested<N>();
    std::array<const void*, static_cast<std::size_t>(N::output_count) + 1> args{};
    args[0] = &body.iteration;
    std::size_t current = 0;
    for (std::int64_t k = 0; k < trips; ++k) {
      body.iteration = k;
      for (int p = 0; p < N::output_count; ++p)
        args[idx(p + 1)] = static_cast<const std::byte*>(part_data(i, p)) + N::copy_offset(current);
      if (Status st = body.body.run_on(args); !st.ok())
        return make_error(st.code(), "static graph: ", G::name_of(i), " = loop, iteration ", k, ": ", st.message());
      current = 1 - current;
      take_outputs<N>(i, body.body, current);
    }
    if (current == 1)
      for (int p = 0; p < N::output_count; ++p)
        std::memcpy(part_data(i, p), static_cast<const std::byte*>(part_data(i, p)) + N::copy_offset(1),
                    static_shape_of(N::output_type(p)).bytes());
    return Status();
  }

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
      wire<N>(i);
      if constexpr (is_op_node<N>::value) return prepare_op<N>(i);
      else if constexpr (is_if<N>) return create_nested<N>(i);
      else if constexpr (is_loop<N>) return create_nested<N>(i);
    }
    return Status();
  }

  // The slots a kernel call of node i reads and writes: its inputs', its own, and those of
  // its op's further outputs (topk's indices), which live in its buffer whether or not the
  // graph names them.
  template <class N>
  void wire(int i) {
    State& s = *state_;
    const NodeInfo& n = G::node(i);
    vm::Slot& slot = s.slots[idx(i)];
    for (int k = 0; k < n.input_count; ++k) {
      const int in = n.inputs[k];
      s.inputs[idx(i)][idx(k)] = in < 0 ? nullptr : &s.slots[idx(in)];
    }
    s.outputs[idx(i)][0] = &slot;
    for (int part = 1; part < N::output_count; ++part) {
      vm::Slot& extra = s.part_slots[idx(i)][idx(part)];
      const StaticShape& shape = part_shapes<N>[idx(part)];
      extra.dtype = shape.dtype;
      extra.set_shape(std::span<const std::int64_t>(shape.dims, static_cast<std::size_t>(shape.rank)));
      extra.data = static_cast<std::byte*>(slot.data) + part_offsets<N>[idx(part)];
      s.outputs[idx(i)][idx(part)] = &extra;
    }
    vm::OpCall& call = s.calls[idx(i)];
    call.op = N::op;
    call.attrs = &s.attrs[idx(i)];
    call.inputs = std::span<const vm::Slot* const>(s.inputs[idx(i)].data(), idx(n.input_count));
    call.outputs = std::span<const vm::Slot* const>(s.outputs[idx(i)].data(), idx(N::output_count));
    call.pool = s.pool;
  }

  // The outputs' shapes and offsets as constants: a run-time call of N::output_type() would
  // keep the node's whole inference result (about 70 KB) in the binary.
  template <class N>
  static constexpr auto part_shapes = [] {
    std::array<StaticShape, N::output_count> shapes{};
    for (int part = 0; part < N::output_count; ++part) shapes[idx(part)] = static_shape_of(N::output_type(part));
    return shapes;
  }();
  template <class N>
  static constexpr auto part_offsets = [] {
    std::array<std::size_t, N::output_count> offsets{};
    for (int part = 0; part < N::output_count; ++part) offsets[idx(part)] = N::part_offset(part);
    return offsets;
  }();

  // Node i runs the VM's CPU kernel for its op: find it, and let it check the node.
  template <class N>
  Status prepare_op(int i) {
    State& s = *state_;
    const NodeInfo& n = G::node(i);
    const std::string_view op = relax::op_info(N::op).name;
    s.kernels[idx(i)] = vm::cpu_kernel(N::op);
    if (s.kernels[idx(i)] == nullptr) return make_error(StatusCode::unsupported, "static graph: ", op, " has no CPU kernel");
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
    for (int part = 0; part < N::output_count; ++part) {
      relax::Value out;
      out.type = part_shapes<N>[idx(part)].tensor_type();
      binding.outputs.push_back(static_cast<relax::ValueId>(fn.values.size()));
      fn.values.push_back(std::move(out));
    }
    if (s.kernels[idx(i)]->supports != nullptr) KILN_RETURN_IF_ERROR(s.kernels[idx(i)]->supports(binding, fn));
    const vm::OpCall& call = s.calls[idx(i)];
    if (s.kernels[idx(i)]->scratch_bytes != nullptr)
      s.scratch_bytes = std::max(s.scratch_bytes, vm::align_up(s.kernels[idx(i)]->scratch_bytes(call)));
    return Status();
  }

  // A branch's or loop body's own Model, with its own arena.
  template <class N>
  Status create_nested(int i) {
    State& s = *state_;
    const auto made = [&](auto result, std::string_view which, auto& into) -> Status {
      if (!result.ok())
        return make_error(result.status().code(), "static graph: ", G::name_of(i), " = ", relax::op_info(N::op).name,
                          ", ", which, " graph: ", result.status().message());
      into = std::move(*result);
      return Status();
    };
    auto& models = nested<N>();
    if constexpr (is_if<N>) {
      KILN_RETURN_IF_ERROR(made(Model<typename N::then_graph>::create(s.pool), "then", models.then_model));
      return made(Model<typename N::else_graph>::create(s.pool), "else", models.else_model);
    } else {
      return made(Model<typename N::body_graph>::create(s.pool), "body", models.body);
    }
  }

  template <class N>
  Status execute(int i) {
    if constexpr (N::is_param || N::is_part) {
      return Status();
    } else {
      State& s = *state_;
      const NodeInfo& n = G::node(i);
      if (n.role == Role::kernel) {
        if constexpr (is_op_node<N>::value) {
          return s.kernels[idx(i)]->run(s.calls[idx(i)]);
        } else if constexpr (is_kernel_call<N>::value) {
          if (Status st = N::run(s.calls[idx(i)].inputs, s.calls[idx(i)].outputs); !st.ok())
            return make_error(st.code(), "static graph: ", G::name_of(i), " = call_kernel '", N::name.view(),
                              "': ", st.message());
          return Status();
        } else if constexpr (is_if<N>) {
          return run_if<N>(i);
        } else {
          return run_loop<N>(i);
        }
      }
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
