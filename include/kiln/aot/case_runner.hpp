// kiln/aot/case_runner.hpp: runs a static-graph model on an ONNX backend-test case directory
// and compares its outputs, as `kiln run CASE_DIR` does for a dynamic module; the main()
// of the model-run program `kiln aot` generates.
//
//   return kiln::aot::run_case_main<resnet18::Graph>(argc, argv, resnet18::input_positions,
//                                                    [](auto& m) { return resnet18::bind_weights(m, file); });
//
//   model-run CASE_DIR [--threads N] [--bench RUNS] [--rtol X] [--atol Y]
//   PASS resnet18                                  (or FAIL resnet18: <why>; exit status 1)
//   median_ms=X min_ms=Y max_ms=Z                  (with --bench, after a passing run)
//
// Every test_data_set_* runs: its input_K.pb files feed the graph's inputs (each input's
// place among the ONNX graph's inputs is `positions`), and each output_K.pb must match
// output K within atol + rtol * |expected| (onnx::detail::mismatch, the comparison of
// `kiln run`). time_runs() is the timing `kiln run --bench` prints too.
#pragma once

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "../core/result.hpp"
#include "../core/status.hpp"
#include "../core/str_cat.hpp"
#include "../frontend/onnx/test_case.hpp"
#include "../runtime/tensor.hpp"
#include "../runtime/thread_pool.hpp"
#include "../static_graph/model.hpp"

namespace kiln::aot {

struct BenchTimes {
  double median_ms = 0, min_ms = 0, max_ms = 0;
};

// Times `runs` calls of `run` after three warm-up calls.
template <class Run>
Result<BenchTimes> time_runs(Run&& run, int runs) {
  for (int i = 0; i < 3; ++i) KILN_RETURN_IF_ERROR(run());
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    KILN_RETURN_IF_ERROR(run());
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  if (ms.empty()) return make_error(StatusCode::invalid_argument, "bench: no runs");
  std::sort(ms.begin(), ms.end());
  const std::size_t n = ms.size();
  return BenchTimes{n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]), ms.front(), ms.back()};
}

inline void print_bench(const BenchTimes& t) {
  std::printf("median_ms=%.4f min_ms=%.4f max_ms=%.4f\n", t.median_ms, t.min_ms, t.max_ms);
}

// A count of at least `least`, or nullopt.
inline std::optional<int> parse_count(std::string_view text, int least) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < least) return std::nullopt;
  return value;
}

// A finite tolerance of at least 0, or nullopt.
inline std::optional<double> parse_tolerance(std::string_view text) {
  const std::string s(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !(v >= 0) || v > 1e300) return std::nullopt;
  return v;
}

struct CaseRunArgs {
  std::filesystem::path case_dir;
  int threads = 1;
  int bench_runs = 0;
  double rtol = 1e-3;
  double atol = 1e-7;
};

inline Result<CaseRunArgs> parse_case_run_args(int argc, char** argv) {
  if (argc < 2) return make_error(StatusCode::invalid_argument, "a case directory is required");
  CaseRunArgs a;
  a.case_dir = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) return make_error(StatusCode::invalid_argument, flag, " needs a value");
    const std::string_view v = argv[++i];
    if (flag == "--threads") {
      const std::optional<int> n = parse_count(v, 1);
      if (!n) return make_error(StatusCode::invalid_argument, "--threads takes a positive count, got '", v, "'");
      a.threads = *n;
    } else if (flag == "--bench") {
      const std::optional<int> n = parse_count(v, 1);
      if (!n) return make_error(StatusCode::invalid_argument, "--bench takes a positive number of runs, got '", v, "'");
      a.bench_runs = *n;
    } else if (flag == "--rtol" || flag == "--atol") {
      const std::optional<double> t = parse_tolerance(v);
      if (!t) return make_error(StatusCode::invalid_argument, flag, " takes a tolerance of at least 0, got '", v, "'");
      (flag == "--rtol" ? a.rtol : a.atol) = *t;
    } else {
      return make_error(StatusCode::invalid_argument, "unknown option '", flag, "'");
    }
  }
  return a;
}

// Runs every data set of the case on a static graph's model; a failure's detail says which
// set and output differ.
template <class Graph>
Result<onnx::CaseResult> run_static_case(static_graph::Model<Graph>& model, std::span<const int> positions, const CaseRunArgs& args,
                                         std::vector<Tensor>* first_inputs = nullptr) {
  namespace fs = std::filesystem;
  onnx::CaseResult result;
  result.name = args.case_dir.filename().string();
  if (result.name.empty()) result.name = args.case_dir.parent_path().filename().string();
  const auto fail = [&](std::string detail) {
    result.outcome = onnx::CaseResult::failed;
    result.detail = std::move(detail);
    return result;
  };
  std::error_code ec;
  if (!fs::is_directory(args.case_dir, ec))
    return make_error(StatusCode::not_found, "case directory ", args.case_dir.string(), " does not exist");
  int sets = 0;
  for (const fs::path& dir : onnx::detail::sorted_entries(args.case_dir)) {
    const std::string set = dir.filename().string();
    if (set.rfind("test_data_set_", 0) != 0) continue;
    ++sets;
    Result<std::vector<onnx::TensorProto>> in_protos = onnx::detail::numbered_tensors(dir, "input");
    if (!in_protos.ok()) return fail(in_protos.status().to_string());
    Result<std::vector<onnx::TensorProto>> out_protos = onnx::detail::numbered_tensors(dir, "output");
    if (!out_protos.ok()) return fail(out_protos.status().to_string());
    std::vector<Tensor> inputs;
    if (positions.size() != Graph::input_nodes.size())
      return make_error(StatusCode::invalid_argument, positions.size(), " input positions for a graph of ",
                        Graph::input_nodes.size(), " inputs");
    for (int p : positions) {
      if (p < 0 || static_cast<std::size_t>(p) >= in_protos->size())
        return fail(str_cat(set, ": no input_", p, ".pb for graph input ", inputs.size()));
      Result<Tensor> t = onnx::to_tensor((*in_protos)[static_cast<std::size_t>(p)], dir);
      const DType declared = Graph::input_shapes[inputs.size()].dtype;
      if (t.ok()) t = onnx::detail::as_declared_dtype(std::move(*t), declared);  // bf16 stored as u16
      if (!t.ok()) return fail(str_cat(set, ": input_", p, ".pb: ", t.status().to_string()));
      inputs.push_back(std::move(*t));
    }
    if (out_protos->size() > Graph::outputs.size())
      return fail(str_cat(set, ": ", out_protos->size(), " expected outputs, the graph has ", Graph::outputs.size()));
    if (Status s = model.run(std::span<const Tensor>(inputs)); !s.ok()) return fail(str_cat(set, ": ", s.to_string()));
    for (std::size_t o = 0; o < out_protos->size(); ++o) {
      Result<Tensor> want = onnx::to_tensor((*out_protos)[o], dir);
      if (want.ok()) want = onnx::detail::as_declared_dtype(std::move(*want), model.output(static_cast<int>(o)).dtype);
      if (!want.ok()) return fail(str_cat(set, ": output_", o, ".pb: ", want.status().to_string()));
      if (std::optional<std::string> why =
              onnx::detail::mismatch(model.output(static_cast<int>(o)), *want, args.rtol, args.atol))
        return fail(str_cat(set, ": output ", o, ": ", *why));
    }
    if (first_inputs != nullptr && first_inputs->empty()) *first_inputs = std::move(inputs);
  }
  if (sets == 0) return fail("no test_data_set_* directory");
  result.outcome = onnx::CaseResult::passed;
  return result;
}

// The model-run program: 0 when the case passes, 1 when it fails, 2 on a usage error.
template <class Graph, class Positions, class BindWeights>
int run_case_main(int argc, char** argv, const Positions& positions, BindWeights&& bind_weights) {
  Result<CaseRunArgs> args = parse_case_run_args(argc, argv);
  if (!args.ok()) {
    std::fprintf(stderr, "model-run: %s\nusage: model-run CASE_DIR [--threads N] [--bench RUNS] [--rtol X] [--atol Y]\n",
                 args.status().message().c_str());
    return 2;
  }
  const auto fail_with = [](const Status& s) {
    std::fprintf(stderr, "model-run: %s\n", s.to_string().c_str());
    return 1;
  };
  std::optional<ThreadPool> pool;
  if (args->threads > 1) pool.emplace(args->threads);
  using Model = static_graph::Model<Graph>;
  Result<Model> model = Model::create(pool ? &*pool : nullptr);
  if (!model.ok()) return fail_with(model.status());
  if (Status s = bind_weights(*model); !s.ok()) return fail_with(s);
  std::vector<Tensor> inputs;
  Result<onnx::CaseResult> r = run_static_case(*model, std::span<const int>(positions.data(), positions.size()), *args, &inputs);
  if (!r.ok()) return fail_with(r.status());
  const bool passed = r->outcome == onnx::CaseResult::passed;
  std::printf("%s %s%s%s\n", passed ? "PASS" : "FAIL", r->name.c_str(), r->detail.empty() ? "" : ": ", r->detail.c_str());
  if (passed && args->bench_runs > 0) {
    Result<BenchTimes> t = time_runs([&] { return model->run(std::span<const Tensor>(inputs)); }, args->bench_runs);
    if (!t.ok()) return fail_with(t.status());
    print_bench(*t);
  }
  return passed ? 0 : 1;
}

} // namespace kiln::aot
