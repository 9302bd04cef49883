// kiln/relax/passes/pass_manager.hpp: runs passes over a module in order, checking the module
// after each one and, when asked, showing it.
//
//   PassManager pm = default_pipeline();
//   std::string log;
//   pm.print_after_each(log);         // "// after fold_constants" + the module, per pass
//   Status s = pm.run(module);
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../../core/status.hpp"
#include "../module.hpp"
#include "../printer.hpp"
#include "canonicalize.hpp"
#include "common_subexpr.hpp"
#include "dead_code.hpp"
#include "fold_constants.hpp"
#include "simplify_shapes.hpp"

namespace kiln::relax {

struct Pass {
  std::string name;
  std::function<Status(Module&)> run;
};

class PassManager {
 public:
  using Observer = std::function<void(std::string_view pass, const Module& module)>;

  PassManager& add(std::string name, std::function<Status(Module&)> run) {
    passes_.push_back(Pass{std::move(name), std::move(run)});
    return *this;
  }

  // Calls `observer` after every pass with the module as that pass left it.
  PassManager& after_each(Observer observer) {
    observer_ = std::move(observer);
    return *this;
  }
  // Appends "// after <pass>\n<module>" to `log` after every pass; `log` must outlive run().
  PassManager& print_after_each(std::string& log) {
    return after_each([&log](std::string_view pass, const Module& module) {
      log += str_cat("// after ", pass, "\n", to_string(module));
    });
  }

  const std::vector<Pass>& passes() const noexcept { return passes_; }

  // Runs the passes in order; stops at the first that fails, or that leaves a module that
  // does not verify, with an error that names the pass.
  Status run(Module& module) const {
    KILN_RETURN_IF_ERROR(verify(module).with_context("before the passes"));
    for (const Pass& pass : passes_) {
      KILN_RETURN_IF_ERROR(pass.run(module).with_context(str_cat("pass ", pass.name)));
      Status check = verify(module);
      if (!check.ok())
        return make_error(StatusCode::internal, "pass ", pass.name, " left an invalid module: ", check.message());
      if (observer_) observer_(pass.name, module);
    }
    return {};
  }

 private:
  std::vector<Pass> passes_;
  Observer observer_;
};

// The load-time pipeline: fold what is constant, turn shape computations into static or
// symbolic targets, remove no-op work and duplicates, then what is left unused.
inline PassManager default_pipeline() {
  PassManager pm;
  pm.add("fold_constants", [](Module& m) { return fold_constants(m); })
      .add("simplify_shapes", [](Module& m) { return simplify_shapes(m); })
      .add("canonicalize", [](Module& m) { return canonicalize(m); })
      .add("common_subexpression_elimination", [](Module& m) { return common_subexpression_elimination(m); })
      .add("dead_code_elimination", [](Module& m) { return dead_code_elimination(m); });
  return pm;
}

} // namespace kiln::relax
