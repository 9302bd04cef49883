#include <kiln/kiln.hpp>

#include "../common/checks.hpp"

int main() { return consumer::run_checks("FetchContent"); }
