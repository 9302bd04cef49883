// kiln: the command line.
//
//   kiln run MODEL.onnx|CASE_DIR [--device cpu|vulkan] [--all-on-device] [--threads N]
//            [--input NAME=FILE.pb]... [--output-dir DIR] [--bench RUNS] [--rtol X] [--atol Y]
//   kiln test DIR [--device cpu|vulkan] [--threads N] [--report FILE.json] [--expect-failures FILE]
//            [--rtol X] [--atol Y] [--min-on-device PERCENT]
//   kiln aot MODEL.onnx -o DIR [--embed] [--dim NAME=SIZE]... [--name NAME]
//   kiln show MODEL.onnx
//
// A CASE_DIR is ONNX's backend-test layout (model.onnx, test_data_set_*/input_K.pb and
// output_K.pb): every data set runs and is compared with its expected outputs (within
// atol + rtol * |expected|, by default rtol 1e-3 and atol 1e-7), and the verdict is printed
// as PASS, FAIL or SKIP. `--bench RUNS` then times RUNS runs after a warm-up and prints
// `median_ms=X min_ms=Y max_ms=Z`.
//
// `kiln aot` turns a model into a static graph: DIR/NAME.hpp (the graph as C++, compiled and
// planned by your compiler), DIR/NAME.weights (or, with --embed, DIR/NAME_weights.inc, the
// weights as an array in the program), and a CMake project (DIR/CMakeLists.txt,
// DIR/model_run.cpp) whose model-run runs a CASE_DIR as `kiln run` does. Shape symbols take
// the sizes --dim gives, 1 otherwise. NAME defaults to the model file's stem (its directory's
// name for a file called model.onnx).
//
// `--device vulkan` (in a build with the Vulkan backend) runs each op on the Vulkan device
// where it can and on the CPU where the device cannot; a case that needed the CPU prints
// `PASS (partly on CPU: op, ...)` and the summary counts such cases apart; with
// --all-on-device such a run fails, and `kiln test --min-on-device P` fails unless at least P
// percent of the cases (of all of them, skipped ones included) pass with every op on the device.
// Without a Vulkan device the command exits with status 77 (what ctest takes as skipped).
#include <kiln/kiln.hpp>
#include <kiln/aot/case_runner.hpp>
#include <kiln/aot/emit_static_graph.hpp>
#include <kiln/aot/project_files.hpp>
#include <kiln/aot/static_shapes.hpp>
#include <kiln/aot/weights_file.hpp>
#include <kiln/frontend/onnx/import.hpp>
#include <kiln/frontend/onnx/test_case.hpp>
#include <kiln/frontend/onnx/write_tensor.hpp>
#if KILN_WITH_VULKAN
#include <kiln/backend/vulkan/vm/vm_kernels.hpp>
#endif

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fs = std::filesystem;
using namespace kiln;

namespace {

constexpr int kUsageError = 2;
constexpr int kDeviceUnavailable = 77;  // --device names a backend with no device here

struct Args {
  std::string command;
  std::string target;
  std::string device = "cpu";
  int threads = 1;
  std::vector<std::pair<std::string, std::string>> inputs;  // NAME=FILE.pb
  std::string output_dir;
  int bench_runs = 0;
  std::string report;
  std::string expect_failures;
  double rtol = 1e-3;
  double atol = 1e-7;
  bool all_on_device = false;  // --all-on-device: a run that needed the CPU fails
  double min_on_device = 0.0;  // --min-on-device: the least percentage of cases wholly on the device
  // kiln aot
  std::string out_dir;
  bool embed = false;
  std::vector<aot::DimSize> dims;  // --dim NAME=SIZE
  std::string name;
};

void usage() {
  std::fputs(
      "usage:\n"
      "  kiln run MODEL.onnx|CASE_DIR [--device cpu|vulkan] [--all-on-device] [--threads N]\n"
      "           [--input NAME=FILE.pb]... [--output-dir DIR] [--bench RUNS] [--rtol X] [--atol Y]\n"
      "  kiln test DIR [--device cpu|vulkan] [--threads N] [--report FILE.json] [--expect-failures FILE]\n"
      "           [--rtol X] [--atol Y] [--min-on-device PERCENT]\n"
      "  kiln aot MODEL.onnx -o DIR [--embed] [--dim NAME=SIZE]... [--name NAME]\n"
      "  kiln show MODEL.onnx\n",
      stderr);
}

using aot::parse_count;

// The options after the command and its target; an error names the bad one.
Result<Args> parse(int argc, char** argv) {
  Args a;
  if (argc < 3) return make_error(StatusCode::invalid_argument, "a command and a model or directory are required");
  a.command = argv[1];
  a.target = argv[2];
  for (int i = 3; i < argc; ++i) {
    const std::string_view flag = argv[i];
    const auto value = [&]() -> Result<std::string> {
      if (i + 1 >= argc) return make_error(StatusCode::invalid_argument, flag, " needs a value");
      return std::string(argv[++i]);
    };
    if (flag == "--device") {
      KILN_ASSIGN_OR_RETURN(a.device, value());
    } else if (flag == "--threads") {
      KILN_ASSIGN_OR_RETURN(const std::string v, value());
      const std::optional<int> n = parse_count(v, 1);
      if (!n) return make_error(StatusCode::invalid_argument, "--threads takes a positive count, got '", v, "'");
      a.threads = *n;
    } else if (flag == "--bench") {
      KILN_ASSIGN_OR_RETURN(const std::string v, value());
      const std::optional<int> n = parse_count(v, 1);
      if (!n) return make_error(StatusCode::invalid_argument, "--bench takes a positive number of runs, got '", v, "'");
      a.bench_runs = *n;
    } else if (flag == "--input") {
      KILN_ASSIGN_OR_RETURN(const std::string v, value());
      const std::size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == v.size())
        return make_error(StatusCode::invalid_argument, "--input takes NAME=FILE.pb, got '", v, "'");
      a.inputs.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else if (flag == "--output-dir") {
      KILN_ASSIGN_OR_RETURN(a.output_dir, value());
    } else if (flag == "--report") {
      KILN_ASSIGN_OR_RETURN(a.report, value());
    } else if (flag == "--all-on-device") {
      a.all_on_device = true;
    } else if (flag == "--min-on-device") {
      KILN_ASSIGN_OR_RETURN(const std::string v, value());
      const std::optional<double> p = aot::parse_tolerance(v);
      if (!p || *p > 100.0) return make_error(StatusCode::invalid_argument, "--min-on-device takes a percentage from 0 to 100, got '", v, "'");
      a.min_on_device = *p;
    } else if (flag == "--expect-failures") {
      KILN_ASSIGN_OR_RETURN(a.expect_failures, value());
    } else if (flag == "--rtol" || flag == "--atol") {
      KILN_ASSIGN_OR_RETURN(const std::string v, value());
      const std::optional<double> t = aot::parse_tolerance(v);
      if (!t) return make_error(StatusCode::invalid_argument, flag, " takes a tolerance of at least 0, got '", v, "'");
      (flag == "--rtol" ? a.rtol : a.atol) = *t;
    } else if (flag == "-o") {
      KILN_ASSIGN_OR_RETURN(a.out_dir, value());
    } else if (flag == "--embed") {
      a.embed = true;
    } else if (flag == "--name") {
      KILN_ASSIGN_OR_RETURN(a.name, value());
      if (a.name.empty() || aot::sanitize_identifier(a.name) != a.name)
        return make_error(StatusCode::invalid_argument, "--name takes a C++ identifier (not a keyword), got '", a.name,
                          "'; for example ", aot::sanitize_identifier(a.name));
    } else if (flag == "--dim") {
      KILN_ASSIGN_OR_RETURN(const std::string v, value());
      const std::size_t eq = v.find('=');
      const std::optional<int> size = eq == std::string::npos ? std::nullopt : parse_count(std::string_view(v).substr(eq + 1), 1);
      if (eq == 0 || !size) return make_error(StatusCode::invalid_argument, "--dim takes NAME=SIZE with SIZE >= 1, got '", v, "'");
      a.dims.push_back({v.substr(0, eq), *size});
    } else {
      return make_error(StatusCode::invalid_argument, "unknown option '", flag, "'");
    }
  }
  if (a.command == "aot" && a.out_dir.empty())
    return make_error(StatusCode::invalid_argument, "aot needs an output directory: -o DIR");
#if KILN_WITH_VULKAN
  if (a.device == "vulkan") return a;  // the device itself is made by main()
  if (a.device != "cpu")
    return make_error(StatusCode::unsupported, "--device ", a.device, ": this build runs on cpu or vulkan");
#else
  if (a.device != "cpu")
    return make_error(StatusCode::unsupported, "--device ", a.device,
                      ": this build runs on the CPU only (configure with the Vulkan loader for --device vulkan)");
#endif
  return a;
}

int fail_with(const Status& s) {
  std::fprintf(stderr, "kiln: %s\n", s.to_string().c_str());
  return 1;
}

// ---- running a model --------------------------------------------------------------------

// The kernels --device picks, and the load options that go with them.
vm::KernelLookup kernels_for(const Args& args) {
#if KILN_WITH_VULKAN
  if (args.device == "vulkan") return vulkan::vm_kernel;
#endif
  (void)args;
  return vm::cpu_kernel;
}
vm::LoadOptions load_options(const Args& args) {
#if KILN_WITH_VULKAN
  if (args.device == "vulkan") return vulkan::device_load_options();
#endif
  (void)args;
  return vm::LoadOptions{};
}

// ", partly on CPU: op, op" for the ops of the last runs that the device left to the CPU.
std::string cpu_fallback_note(const Args& args) {
  std::string note;
#if KILN_WITH_VULKAN
  if (args.device == "vulkan")
    for (const vulkan::CpuFallback& f : vulkan::cpu_fallbacks())
      note += str_cat(note.empty() ? "" : ", ", relax::to_string(f.op));
#endif
  (void)args;
  return note;
}
void clear_cpu_fallback_notes() {
#if KILN_WITH_VULKAN
  vulkan::clear_cpu_fallbacks();
#endif
}


struct Loaded {
  std::shared_ptr<const vm::Executable> exe;
  std::vector<Tensor> inputs;  // in the order of the module's parameters
};

std::vector<std::string> parameter_names(const relax::Function& fn) {
  std::vector<std::string> names;
  for (relax::ValueId p : fn.params) names.push_back(fn.value(p).name);
  return names;
}

// Imports `model_file`; when it needs an input's value at load time (a shape fed as a graph
// input), imports it again with the given inputs' values known.
Result<relax::Module> import_with(const fs::path& model_file, const std::vector<std::pair<std::string, Tensor>>& given) {
  Result<relax::Module> module = onnx::load(model_file.string());
  if (module.ok() || given.empty()) return module;
  onnx::ImportOptions known;
  known.input_values = given;
  return onnx::load(model_file.string(), known);
}

// The model and the inputs of a case directory's first data set.
Result<Loaded> load_case_inputs(const fs::path& dir, const Args& args) {
  const vm::LoadOptions options = load_options(args);
  std::vector<std::pair<std::string, Tensor>> given;
  KILN_ASSIGN_OR_RETURN(const onnx::LoadedModel model, onnx::load_model(dir / "model.onnx"));
  if (!model.model.graph) return make_error(StatusCode::invalid_argument, "the model has no graph");
  std::set<std::string> initializers;
  for (const onnx::TensorProto& init : model.model.graph->initializer) initializers.insert(init.name);
  std::size_t k = 0;
  for (const onnx::ValueInfoProto& input : model.model.graph->input) {
    if (initializers.count(input.name)) continue;
    const fs::path file = dir / "test_data_set_0" / ("input_" + std::to_string(k++) + ".pb");
    KILN_ASSIGN_OR_RETURN(Tensor t, onnx::load_tensor(file));
    given.emplace_back(input.name, std::move(t));
  }
  KILN_ASSIGN_OR_RETURN(relax::Module module, import_with(dir / "model.onnx", given));
  Loaded loaded;
  KILN_ASSIGN_OR_RETURN(loaded.exe, vm::Executable::load(std::move(module), kernels_for(args), options));
  for (const std::string& name : parameter_names(loaded.exe->function())) {
    const auto it = std::find_if(given.begin(), given.end(), [&](const auto& g) { return g.first == name; });
    if (it == given.end()) return make_error(StatusCode::not_found, "no data for input '", name, "'");
    loaded.inputs.push_back(it->second);
  }
  return loaded;
}

// A model file and the --input files.
Result<Loaded> load_model_inputs(const fs::path& model_file, const Args& args) {
  const vm::LoadOptions options = load_options(args);
  std::vector<std::pair<std::string, Tensor>> given;
  for (const auto& [name, file] : args.inputs) {
    Result<Tensor> t = onnx::load_tensor(file);
    if (!t.ok()) return std::move(t).status().with_context(str_cat("--input ", name));
    given.emplace_back(name, std::move(*t));
  }
  KILN_ASSIGN_OR_RETURN(relax::Module module, import_with(model_file, given));
  Loaded loaded;
  KILN_ASSIGN_OR_RETURN(loaded.exe, vm::Executable::load(std::move(module), kernels_for(args), options));
  const std::vector<std::string> names = parameter_names(loaded.exe->function());
  for (const auto& g : given)
    if (std::find(names.begin(), names.end(), g.first) == names.end())
      return make_error(StatusCode::not_found, "--input ", g.first, ": the model has no input of that name");
  for (const std::string& name : names) {
    const auto it = std::find_if(given.begin(), given.end(), [&](const auto& g) { return g.first == name; });
    if (it == given.end()) return make_error(StatusCode::invalid_argument, "input '", name, "' needs --input ", name, "=FILE.pb");
    loaded.inputs.push_back(it->second);
  }
  return loaded;
}

// Times `runs` runs after a warm-up; prints median, min and max in milliseconds (the
// timing and the line model-run prints too).
Status bench(vm::ExecutionContext& ctx, const std::vector<Tensor>& inputs, int runs) {
  KILN_ASSIGN_OR_RETURN(const aot::BenchTimes t, aot::time_runs([&] { return ctx.run(inputs); }, runs));
  aot::print_bench(t);
  return {};
}


int run_command(const Args& args) {
  std::optional<ThreadPool> pool;
  if (args.threads > 1) pool.emplace(args.threads);
  ThreadPool* pool_ptr = pool ? &*pool : nullptr;
  const fs::path target(args.target);
  std::error_code ec;
  if (fs::is_directory(target, ec)) {
    onnx::CaseOptions options;
    options.pool = pool_ptr;
    options.rtol = args.rtol;
    options.atol = args.atol;
    options.kernels = kernels_for(args);
    options.load = load_options(args);
    clear_cpu_fallback_notes();
    Result<onnx::CaseResult> r = onnx::run_case(target, options);
    if (!r.ok()) return fail_with(r.status());
    const char* verdict = r->outcome == onnx::CaseResult::passed ? "PASS" : r->outcome == onnx::CaseResult::failed ? "FAIL" : "SKIP";
    const std::string partly = cpu_fallback_note(args);
    std::printf("%s %s%s%s%s\n", verdict, r->name.c_str(), r->detail.empty() ? "" : ": ", r->detail.c_str(),
                partly.empty() ? "" : str_cat(" (partly on CPU: ", partly, ")").c_str());
    if (args.all_on_device && !partly.empty()) {
      std::fprintf(stderr, "kiln: --all-on-device: %s ran on the CPU\n", partly.c_str());
      return 1;
    }
    if (args.bench_runs > 0 && r->outcome == onnx::CaseResult::passed) {
      Result<Loaded> loaded = load_case_inputs(target, args);
      if (!loaded.ok()) return fail_with(loaded.status());
      vm::ExecutionContext ctx(loaded->exe, pool_ptr);
      if (Status s = bench(ctx, loaded->inputs, args.bench_runs); !s.ok()) return fail_with(s);
    }
    return r->outcome == onnx::CaseResult::failed ? 1 : 0;
  }
  Result<Loaded> loaded = load_model_inputs(target, args);
  if (!loaded.ok()) return fail_with(loaded.status());
  vm::ExecutionContext ctx(loaded->exe, pool_ptr);
  clear_cpu_fallback_notes();
  if (Status s = ctx.run(loaded->inputs); !s.ok()) return fail_with(s);
  if (const std::string partly = cpu_fallback_note(args); !partly.empty()) {
    std::printf("partly on CPU: %s\n", partly.c_str());
    if (args.all_on_device) return fail_with(make_error(StatusCode::unsupported, "--all-on-device: ", partly, " ran on the CPU"));
  }
  const relax::Function& fn = loaded->exe->function();
  for (std::size_t k = 0; k < fn.outputs.size(); ++k) {
    const vm::Slot& out = ctx.output(static_cast<int>(k));
    const std::string name = fn.value(fn.outputs[k]).name;
    std::string dims;
    for (int a = 0; a < out.rank; ++a) dims += str_cat(a ? ", " : "", out.dims[a]);
    std::printf("output %zu '%s': %s[%s]\n", k, name.c_str(), std::string(to_string(out.dtype)).c_str(), dims.c_str());
    if (!args.output_dir.empty()) {
      fs::create_directories(args.output_dir, ec);
      const fs::path file = fs::path(args.output_dir) / ("output_" + std::to_string(k) + ".pb");
      if (Status s = onnx::write_tensor_file(file, name, out); !s.ok()) return fail_with(s);
    }
  }
  if (args.bench_runs > 0)
    if (Status s = bench(ctx, loaded->inputs, args.bench_runs); !s.ok()) return fail_with(s);
  return 0;
}

// ---- testing a directory of cases --------------------------------------------------------

// Case names, one per line; '#' starts a comment.
Result<std::set<std::string>> read_name_list(const std::string& path) {
  std::ifstream file(path);
  if (!file) return make_error(StatusCode::not_found, "cannot read ", path);
  std::set<std::string> names;
  std::string line;
  while (std::getline(file, line)) {
    line = line.substr(0, line.find('#'));
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    names.insert(line.substr(first, line.find_last_not_of(" \t\r") - first + 1));
  }
  return names;
}

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += buf;
      continue;
    }
    out += c;
  }
  return out + "\"";
}

int test_command(const Args& args) {
  std::optional<ThreadPool> pool;
  if (args.threads > 1) pool.emplace(args.threads);
  std::optional<std::set<std::string>> expected;
  if (!args.expect_failures.empty()) {
    Result<std::set<std::string>> list = read_name_list(args.expect_failures);
    if (!list.ok()) return fail_with(list.status());
    expected = std::move(*list);
  }
  std::error_code ec;
  std::vector<fs::path> cases;
  for (const fs::directory_entry& e : fs::directory_iterator(args.target, ec))
    if (e.is_directory() && fs::is_regular_file(e.path() / "model.onnx")) cases.push_back(e.path());
  if (ec) return fail_with(make_error(StatusCode::not_found, "cannot list ", args.target, ": ", ec.message()));
  std::sort(cases.begin(), cases.end());
  int passed = 0, partly = 0, failed = 0, skipped = 0, unexpected = 0;
  std::string report = "[\n";
  onnx::CaseOptions options;
  options.pool = pool ? &*pool : nullptr;
  options.rtol = args.rtol;
  options.atol = args.atol;
  options.kernels = kernels_for(args);
  options.load = load_options(args);
  for (const fs::path& dir : cases) {
    clear_cpu_fallback_notes();
    Result<onnx::CaseResult> r = onnx::run_case(dir, options);
    onnx::CaseResult result;
    if (r.ok()) result = std::move(*r);
    else result = onnx::CaseResult{dir.filename().string(), onnx::CaseResult::failed, r.status().to_string(), false};
    const char* verdict = "SKIP";
    // A case that passed with ops left to the CPU counts apart from those run on the device.
    const std::string on_cpu = cpu_fallback_note(args);
    if (result.outcome == onnx::CaseResult::passed && !on_cpu.empty()) ++partly, verdict = "PASS";
    else if (result.outcome == onnx::CaseResult::passed) ++passed, verdict = "PASS";
    else if (result.outcome == onnx::CaseResult::failed) ++failed, verdict = "FAIL";
    else ++skipped;
    std::string note;
    if (expected) {
      const bool listed = expected->count(result.name) > 0;
      if (result.outcome == onnx::CaseResult::failed && !listed) note = " (unexpected failure)", ++unexpected;
      if (result.outcome == onnx::CaseResult::passed && listed) note = " (listed as failing, now passes)", ++unexpected;
    }
    if (result.outcome == onnx::CaseResult::passed && !on_cpu.empty()) note = str_cat(" (partly on CPU: ", on_cpu, ")", note);
    std::printf("%s %s%s%s%s\n", verdict, result.name.c_str(), result.detail.empty() ? "" : ": ", result.detail.c_str(),
                note.c_str());
    report += str_cat(report.size() > 2 ? ",\n" : "", "  {\"name\": ", json_string(result.name), ", \"outcome\": \"",
                      onnx::to_string(result.outcome), "\", \"detail\": ", json_string(result.detail),
                      ", \"input_values_at_load\": ", result.used_input_values ? "true" : "false",
                      ", \"ops_on_cpu\": ", json_string(on_cpu), "}");
  }
  report += "\n]\n";
  if (!args.report.empty()) {
    std::ofstream file(args.report, std::ios::trunc);
    if (!(file << report)) return fail_with(make_error(StatusCode::internal, "cannot write ", args.report));
  }
  if (args.device == "cpu") std::printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  else
    std::printf("%d passed on %s, %d passed partly on CPU, %d failed, %d skipped\n", passed, args.device.c_str(), partly, failed,
                skipped);
  if (args.min_on_device > 0.0) {
    const int total = passed + partly + failed + skipped;
    const double percent = total > 0 ? 100.0 * passed / total : 0.0;
    std::printf("%.1f%% of the cases ran wholly on %s (at least %.1f%% asked)\n", percent, args.device.c_str(), args.min_on_device);
    if (percent < args.min_on_device) return 1;
  }
  if (expected) return unexpected > 0 ? 1 : 0;
  return failed > 0 ? 1 : 0;
}

// ---- a model as a static graph -------------------------------------------------------------

#ifndef KILN_AOT_INCLUDE_DIR
#define KILN_AOT_INCLUDE_DIR ""
#endif

// Writes `text` to `file`, unless the file already holds it: a generated project then
// rebuilds only what changed.
Status write_text(const fs::path& file, std::string_view text) {
  std::error_code ec;
  if (fs::is_regular_file(file, ec) && fs::file_size(file, ec) == text.size()) {
    std::ifstream in(file, std::ios::binary);
    std::string held(text.size(), '\0');
    if (in.read(held.data(), static_cast<std::streamsize>(held.size())) && held == text) return {};
  }
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  if (!out || !out.write(text.data(), static_cast<std::streamsize>(text.size())))
    return make_error(StatusCode::internal, "cannot write ", file.string());
  return {};
}

// The default name: the file's stem, or its directory's name for the usual model.onnx.
std::string default_model_name(const fs::path& model_file) {
  std::error_code ec;
  const fs::path absolute = fs::absolute(model_file, ec);
  const std::string stem = absolute.stem().string();
  if (stem == "model" && absolute.has_parent_path() && !absolute.parent_path().filename().empty())
    return aot::sanitize_identifier(absolute.parent_path().filename().string());
  return aot::sanitize_identifier(stem);
}

int aot_command(const Args& args) {
  const fs::path model_file(args.target);
  Result<relax::Module> module = onnx::load(args.target);
  if (!module.ok()) return fail_with(module.status());
  Result<aot::StaticModule> fixed = aot::make_static(std::move(*module), args.dims);
  if (!fixed.ok()) return fail_with(fixed.status().with_context(str_cat("kiln aot ", args.target)));
  std::string shapes;
  for (const aot::DimSize& d : fixed->sizes) shapes += str_cat(shapes.empty() ? "" : ", ", d.symbol, " = ", d.size);
  const std::string name = args.name.empty() ? default_model_name(model_file) : args.name;
  aot::EmitOptions emit;
  emit.name = name;
  emit.source = model_file.filename().string();
  emit.shape_note = shapes;
  emit.embed = args.embed;
  Result<aot::EmittedGraph> graph = aot::emit_static_graph(fixed->module, emit);
  if (!graph.ok()) return fail_with(graph.status().with_context(str_cat("kiln aot ", args.target)));

  const fs::path dir(args.out_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail_with(make_error(StatusCode::not_found, "cannot create ", dir.string(), ": ", ec.message()));
  if (Status s = write_text(dir / (name + ".hpp"), graph->header); !s.ok()) return fail_with(s);
  Result<std::string> weights = aot::encode_weights(graph->weights);
  if (!weights.ok()) return fail_with(weights.status());
  const fs::path weights_file = dir / (args.embed ? name + "_weights.inc" : name + ".weights");
  Status written = args.embed ? write_text(weights_file, aot::embedded_weights_text(name, std::as_bytes(std::span(*weights))))
                              : write_text(weights_file, *weights);
  if (!written.ok()) return fail_with(written);
  // A leftover of the other form, from an earlier run, would only mislead.
  fs::remove(dir / (args.embed ? name + ".weights" : name + "_weights.inc"), ec);
  aot::ProjectOptions project;
  project.name = name;
  project.include_dir = KILN_AOT_INCLUDE_DIR;
  project.embed = args.embed;
  if (Status s = write_text(dir / "CMakeLists.txt", aot::cmake_lists_text(project)); !s.ok()) return fail_with(s);
  if (Status s = write_text(dir / "model_run.cpp", aot::model_run_text(project)); !s.ok()) return fail_with(s);
  std::printf("kiln aot: %s -> %s: %d nodes, %zu weights (%zu bytes)%s%s\n", args.target.c_str(),
              (dir / (name + ".hpp")).string().c_str(), graph->nodes, graph->weights.size(), weights->size(),
              shapes.empty() ? "" : "; ", shapes.c_str());
  return 0;
}

// ---- showing a module ---------------------------------------------------------------------

int show_command(const Args& args) {
  Result<relax::Module> module = onnx::load(args.target);
  if (!module.ok()) return fail_with(module.status());
  if (Status s = relax::default_pipeline().run(*module); !s.ok()) return fail_with(s);
  if (Status s = relax::convert_layout(*module); !s.ok()) return fail_with(s);
  if (Result<int> fused = relax::fuse_ops(*module); !fused.ok()) return fail_with(fused.status());
  std::fputs(relax::to_string(*module).c_str(), stdout);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  Result<Args> args = parse(argc, argv);
  if (!args.ok()) {
    std::fprintf(stderr, "kiln: %s\n", args.status().message().c_str());
    usage();
    return kUsageError;
  }
#if KILN_WITH_VULKAN
  if (args->device == "vulkan") {
    Result<vulkan::vm_ops::OpRuntime*> runtime = vulkan::vm_ops::OpRuntime::get();
    if (!runtime.ok()) {
      std::fprintf(stderr, "kiln: --device vulkan: %s\n", runtime.status().message().c_str());
      return kDeviceUnavailable;
    }
    std::fprintf(stderr, "kiln: Vulkan device %s\n", (*runtime)->device().name().c_str());
  }
#endif
  if (args->command == "run") return run_command(*args);
  if (args->command == "test") return test_command(*args);
  if (args->command == "show") return show_command(*args);
  if (args->command == "aot") return aot_command(*args);
  std::fprintf(stderr, "kiln: unknown command '%s'\n", args->command.c_str());
  usage();
  return kUsageError;
}
