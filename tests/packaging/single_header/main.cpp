#include "kiln.hpp"

#include "../common/checks.hpp"

int main() { return consumer::run_checks("the single header"); }
