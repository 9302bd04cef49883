// Lowering and printing of scheduled computes: the loop nest each schedule produces, the
// diagnostics of illegal schedules, and the printed loop programs.
#include <doctest/doctest.h>

#include <kiln/tir/lower.hpp>
#include <kiln/tir/print.hpp>

#include <string>

using namespace kiln;

namespace {
constexpr auto A = te::placeholder<float, "A">(te::dim<"m">, 64_c);
constexpr auto B = te::placeholder<float, "B">(64_c, te::dim<"n">);
constexpr auto k = te::reduce_axis<"k">(64_c);
const auto C = te::compute<"C", "i", "j">(te::extents(te::dim<"m">, te::dim<"n">),
                                          [](auto i, auto j) { return te::sum(A(i, k) * B(k, j), k); });
constexpr auto kSpec = tir::compute_spec<std::remove_const_t<decltype(C)>>();

constexpr auto X = te::placeholder<float, "X">(100_c);
const auto E = te::compute<"E", "x">(te::extents(100_c), [](auto x) { return te::exp(X(x) * 2.0f) + 1.0f; });
constexpr auto kElementwiseSpec = tir::compute_spec<std::remove_const_t<decltype(E)>>();

std::string loop_names(const tir::LoopProgram& p) {
  std::string out;
  for (int i = 0; i < p.loop_count; ++i) out += str_cat(i ? " " : "", p.loops[i].name.view());
  return out;
}
} // namespace

TEST_CASE("the compute's spec lists its axes and every symbolic extent") {
  CHECK(kSpec.axis_count == 3);
  CHECK(kSpec.spatial_count == 2);
  CHECK(kSpec.axes[2].name == Name("k"));
  CHECK(kSpec.axes[2].reduction);
  CHECK(kSpec.axes[2].static_extent == 64);
  CHECK(kSpec.axes[0].symbol == 0);
  CHECK(kSpec.symbol_count == 2);
  CHECK(kSpec.symbols[0] == Name("m"));
  CHECK(kSpec.symbols[1] == Name("n"));
}

TEST_CASE("split, reorder and annotations shape the loop nest") {
  constexpr auto p = tir::lower(kSpec, tir::schedule("C")
                                           .split("i", 4)
                                           .split("j", 16)
                                           .reorder("i.o", "j.o", "k", "i.i", "j.i")
                                           .parallel("i.o")
                                           .unroll("i.i")
                                           .vectorize("j.i"));
  static_assert(!p.error.failed);
  CHECK(loop_names(p) == "i.o j.o k i.i j.i");
  CHECK(p.loops[0].kind == tir::LoopKind::parallel);
  CHECK(p.loops[3].kind == tir::LoopKind::unrolled);
  CHECK(p.loops[4].kind == tir::LoopKind::vectorized);
  CHECK(p.static_value(p.loops[4].extent) == 16);
  CHECK(p.static_value(p.loops[0].extent) == -1);  // ceildiv(m, 4) is dynamic
  CHECK(p.guard_count == 2);                       // m and n need guarded tails
  // A split of a static extent that the factor divides needs no guard.
  constexpr auto q = tir::lower(kSpec, tir::schedule("C").split("k", 16));
  CHECK(q.guard_count == 0);
  CHECK(q.static_value(q.loops[2].extent) == 4);
  // One that it does not divide gets a guard, or a separate tail.
  constexpr auto g = tir::lower(kSpec, tir::schedule("C").split("k", 24));
  CHECK(g.guard_count == 1);
  constexpr auto t = tir::lower(kSpec, tir::schedule("C").split("k", 24, tir::Tail::separate));
  CHECK(t.guard_count == 0);
  CHECK(t.loops[3].tail_bound >= 0);
}

TEST_CASE("tile is split, split and reorder; fuse folds two loops into one") {
  constexpr auto p = tir::lower(kSpec, tir::schedule("C").tile("i", "j", 8, 32));
  CHECK(loop_names(p) == "i.o j.o i.i j.i k");
  constexpr auto f = tir::lower(kSpec, tir::schedule("C").fuse("i", "j").parallel("i_j"));
  CHECK(loop_names(f) == "i_j k");
  CHECK(f.loops[0].kind == tir::LoopKind::parallel);
  constexpr auto named = tir::lower(kSpec, tir::schedule("C").split("i", 8, tir::Tail::guard, "io", "ii").fuse("io", "ii", "again"));
  CHECK(loop_names(named) == "again j k");
}

TEST_CASE("illegal schedules are diagnosed with the primitive and the loop") {
  auto message = [](const tir::Schedule& s) { return std::string(tir::lower(kSpec, s).error.message); };
  CHECK(message(tir::schedule("C").vectorize("k")) ==
        "vectorize(\"k\"): the loop is a reduction loop; only spatial loops can be vectorized (rfactor it first)");
  CHECK(message(tir::schedule("C").split("q", 2)) == "split(\"q\"): no loop of that name in the loop nest");
  CHECK(message(tir::schedule("C").split("i", -3)) == "split(\"i\"): the factor must be positive");
  CHECK(message(tir::schedule("C").fuse("i", "k")) ==
        "fuse(\"k\"): the loop is not directly inside the loop it is fused with");
  CHECK(message(tir::schedule("C").parallel("j")) ==
        "parallel(\"j\"): the loop is inside a serial loop; fuse the outer loops and parallelize the fused loop");
  CHECK(message(tir::schedule("C").split("i", 4).reorder("i.i", "i.o")) == "");
  CHECK(message(tir::schedule("C").split("i", 4, tir::Tail::separate).reorder("i.i", "i.o")) ==
        "reorder(\"i.o\"): the loop would move inside the tail loop it bounds");
  CHECK(message(tir::schedule("C").split("i", 4).split("i", 2)) == "split(\"i\"): no loop of that name in the loop nest");
  // Primitives of other stages are left to those stages.
  CHECK(message(tir::schedule("E").unroll("x")) == "");
}

TEST_CASE("the printed loop program of a tiled, vectorized matmul") {
  constexpr auto s = tir::schedule("C")
                         .split("i", 4)
                         .split("j", 16, tir::Tail::separate)
                         .reorder("i.o", "j.o", "k", "i.i", "j.i")
                         .parallel("i.o")
                         .unroll("i.i")
                         .vectorize("j.i");
  CHECK(tir::print<s>(C) ==
        "@T.prim_func\n"
        "def C(A: T.Buffer((m, 64), \"float32\"), B: T.Buffer((64, n), \"float32\"), C: T.Buffer((m, n), \"float32\")):\n"
        "    for i.o in T.parallel(T.ceildiv(m, 4)):\n"
        "        for j.o in range(T.ceildiv(n, 16)):\n"
        "            for k in range(64):  # reduction\n"
        "                for i.i in T.unroll(4):\n"
        "                    for j.i in T.vectorized(T.min(16, n - (j.o * 16))):\n"
        "                        i = i.o * 4 + i.i\n"
        "                        j = j.o * 16 + j.i\n"
        "                        if i < m:\n"
        "                            if k == 0:\n"
        "                                C[i, j] = T.sum_identity(\"float32\")\n"
        "                            C[i, j] = T.sum(C[i, j], (A[i, k] * B[k, j]))\n");
}

TEST_CASE("the printed loop programs of a fused and of an elementwise schedule") {
  CHECK(tir::print<tir::schedule("C").fuse("i", "j").parallel("i_j")>(C) ==
        "@T.prim_func\n"
        "def C(A: T.Buffer((m, 64), \"float32\"), B: T.Buffer((64, n), \"float32\"), C: T.Buffer((m, n), \"float32\")):\n"
        "    for i_j in T.parallel(m * n):\n"
        "        for k in range(64):  # reduction\n"
        "            i = i_j // n\n"
        "            j = i_j % n\n"
        "            if k == 0:\n"
        "                C[i, j] = T.sum_identity(\"float32\")\n"
        "            C[i, j] = T.sum(C[i, j], (A[i, k] * B[k, j]))\n");
  CHECK(tir::print<tir::schedule("E").split("x", 32).vectorize("x.i")>(E) ==
        "@T.prim_func\n"
        "def E(X: T.Buffer((100,), \"float32\"), E: T.Buffer((100,), \"float32\")):\n"
        "    for x.o in range(4):\n"
        "        for x.i in T.vectorized(32):\n"
        "            x = x.o * 32 + x.i\n"
        "            if x < 100:\n"
        "                E[x] = (T.exp((X[x] * T.float32(2))) + T.float32(1))\n");
  CHECK(tir::print<tir::schedule("E").vectorize("x.i")>(E) ==
        "# illegal schedule: vectorize(\"x.i\"): no loop of that name in the loop nest\n");
  CHECK(kElementwiseSpec.symbol_count == 0);
}
