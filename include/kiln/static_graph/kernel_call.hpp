// kiln/static_graph/kernel_call.hpp: a static graph node that calls a kernel of the user's
// own (the cross-level call), with the types of its outputs declared.
//
//   Status scale_rows(std::span<const vm::Slot* const> in, std::span<const vm::Slot* const> out);
//   constexpr auto y = call_kernel<"scale_rows", scale_rows, Out<DType::f32, 8, 64>>(x, s);
//
// The kernel is a template argument (a function or a captureless lambda), so the compiler
// sees the call; its signature is the one a dynamic module's vm::UserKernel has, so one
// function serves both ways to run a graph. The graph cannot look inside the kernel: the
// declared outputs are what the plan gives it, and it must fill them without allocating.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <type_traits>

#include "../core/name.hpp"
#include "../core/status.hpp"
#include "../vm/slot.hpp"
#include "node.hpp"
#include "ops.hpp"

namespace kiln::static_graph {

// The declared type of one output of a user kernel.
template <DType D, std::int64_t... Dims>
struct Out {
  static_assert(sizeof...(Dims) <= kMaxRank, "kiln: a static graph's tensors have at most kMaxRank dims");
  static_assert(((Dims > 0) && ...), "kiln: a static graph's dims are positive");
  static constexpr StaticShape shape{D, static_cast<int>(sizeof...(Dims)), {Dims...}};
};

template <class T> struct is_out : std::false_type {};
template <DType D, std::int64_t... Dims> struct is_out<Out<D, Dims...>> : std::true_type {};

template <Name KernelName, auto Kernel, class OutList, class... In>
struct KernelCall;

template <Name KernelName, auto Kernel, class... Outs, class... In>
struct KernelCall<KernelName, Kernel, TypeList<Outs...>, In...>
    : FixedOutputs<std::array<StaticShape, sizeof...(Outs)>{Outs::shape...}> {
  static_assert(sizeof...(Outs) > 0 && (is_out<Outs>::value && ...),
                "kiln: call_kernel declares its outputs as Out<dtype, dims...>");
  static_assert(std::is_invocable_r_v<Status, decltype(Kernel), std::span<const vm::Slot* const>,
                                      std::span<const vm::Slot* const>>,
                "kiln: a user kernel is called as Status(std::span<const vm::Slot* const> inputs, "
                "std::span<const vm::Slot* const> outputs)");
  static constexpr bool is_param = false;
  static constexpr bool is_part = false;
  static constexpr relax::OpKind op = relax::OpKind::call_kernel;
  static constexpr Name name = KernelName;
  using inputs = TypeList<In...>;

  static Status run(std::span<const vm::Slot* const> inputs, std::span<const vm::Slot* const> outputs) {
    return Kernel(inputs, outputs);
  }
};

template <Name KernelName, auto Kernel, class OutList, class... In>
struct is_node<KernelCall<KernelName, Kernel, OutList, In...>> : std::true_type {};

template <class T> struct is_kernel_call : std::false_type {};
template <Name KernelName, auto Kernel, class OutList, class... In>
struct is_kernel_call<KernelCall<KernelName, Kernel, OutList, In...>> : std::true_type {};

// Calls `Kernel` on the inputs; the node when it declares one output, else a tuple of them.
template <Name KernelName, auto Kernel, class... Outs, GraphTensor... In>
constexpr auto call_kernel(In...) noexcept {
  return outputs_of(KernelCall<KernelName, Kernel, TypeList<Outs...>, In...>{});
}

} // namespace kiln::static_graph
