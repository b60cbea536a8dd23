#include "tools/commands.h"
namespace dsv4::tools {
void add_inspect_command(CLI::App&) {}
void add_make_model_command(CLI::App&) {}
}
