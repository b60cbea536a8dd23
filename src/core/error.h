// One error convention for the whole engine.
//
// Library code reports failures by throwing dsv4::Error (never exit/abort). An Error carries a
// message plus a chain of context frames ("while loading tensor X", "in file Y") that callers add
// as the error travels up; what() renders them outermost-first so a user sees where and what.
// Kernels and other C-style entry points return a dsv4::Status instead; check() converts one
// into an Error at the boundary.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace dsv4 {

class Error : public std::exception {
 public:
  explicit Error(std::string message) : message_(std::move(message)) { render(); }

  // Adds an outer context frame ("loading checkpoint /x/y") and returns *this for rethrowing.
  Error& with_context(std::string frame) {
    context_.push_back(std::move(frame));
    render();
    return *this;
  }

  const char* what() const noexcept override { return rendered_.c_str(); }
  const std::string& message() const { return message_; }
  const std::vector<std::string>& context() const { return context_; }

 private:
  void render() {
    rendered_.clear();
    for (auto it = context_.rbegin(); it != context_.rend(); ++it) {
      rendered_ += *it;
      rendered_ += ": ";
    }
    rendered_ += message_;
  }

  std::string message_;
  std::vector<std::string> context_;  // innermost first
  std::string rendered_;
};

// Throws dsv4::Error with a fmt-formatted message.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

// Runs fn(); if it throws dsv4::Error, adds a context frame and rethrows.
template <typename Fn>
decltype(auto) with_context(const std::string& frame, Fn&& fn) {
  try {
    return std::forward<Fn>(fn)();
  } catch (Error& e) {
    e.with_context(frame);
    throw;
  }
}

// Status for kernel launchers and other C-style boundaries: ok, or a message with context.
class Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status error(std::string message) {
    Status s;
    s.message_ = std::move(message);
    s.ok_ = false;
    return s;
  }
  bool is_ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const std::string& message() const { return message_; }

 private:
  bool ok_ = true;
  std::string message_;
};

// Converts a failed Status into an Error (with `what` naming the call).
inline void check(const Status& status, const char* what) {
  if (!status.is_ok()) throw Error(fmt::format("{}: {}", what, status.message()));
}

}  // namespace dsv4
