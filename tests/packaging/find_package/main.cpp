#include <kiln/kiln.hpp>

#include <cstring>

#include "../common/checks.hpp"

int main() {
  consumer::check(std::strcmp(KILN_VERSION_STRING, KILN_EXPECTED_VERSION) == 0,
                  "KILN_VERSION_STRING matches the package version");
  return consumer::run_checks("find_package");
}
