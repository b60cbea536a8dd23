// dsv4: the command-line entry point. Each subcommand lives in its own file (commands.h).
#include <cstdio>
#include <exception>

#include "core/error.h"
#include "tools/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"dsv4 — an inference engine for the DeepSeek-V4 model family", "dsv4"};
  app.set_version_flag("--version", std::string("dsv4 ") + DSV4_VERSION);
  app.require_subcommand(1);
  app.fallthrough();

  dsv4::tools::add_inspect_command(app);
  dsv4::tools::add_make_model_command(app);
  dsv4::tools::add_logits_command(app);
  dsv4::tools::add_generate_command(app);
  dsv4::tools::add_chat_command(app);
  dsv4::tools::add_tokenize_command(app);
  dsv4::tools::add_detokenize_command(app);
  dsv4::tools::add_render_command(app);
  dsv4::tools::add_bench_command(app);
  dsv4::tools::add_drift_command(app);
  dsv4::tools::add_serve_command(app);
  dsv4::tools::add_bench_serve_command(*app.get_subcommand("bench"));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const dsv4::Error& e) {
    std::fprintf(stderr, "dsv4: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dsv4: internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}
