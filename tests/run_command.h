// run_command.h: running the awd program from a test, as a user would, and capturing what it says.
// Is not: a sandbox: the command runs through the shell, in the test's working directory.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

namespace awd {

struct Outcome {
    int status;          // the exit code, -1 when killed by a signal
    std::string output;  // stdout and stderr together
};

inline Outcome run_command(const std::string& command) {
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen((command + " 2>&1").c_str(), "r"), pclose);
    std::string text;
    std::array<char, 4096> buffer;
    while (std::fgets(buffer.data(), buffer.size(), pipe.get())) text += buffer.data();
    const int status = pclose(pipe.release());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text};
}

}  // namespace awd
