// run_dir.cpp: unit-written run folders: lock, temporary sibling, manifest, atomic swap.
#include "experiments/common/run_dir.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <stdexcept>

#include "nn/files.h"

namespace fs = std::filesystem;

namespace awd {

namespace {

const char kManifest[] = "manifest.json";
// A manifest of a run lists some 20 files; far more means the header is not ours.
const size_t kMaxManifestFiles = 100000;

bool process_running(long pid) { return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM); }

std::string hex32(uint32_t v) {
    char text[9];
    std::snprintf(text, sizeof text, "%08x", v);
    return text;
}

// The CRC-32 of a file's first `bytes` bytes, read in blocks (data files can be large).
uint32_t file_crc32(const std::string& path, uint64_t bytes) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
    std::vector<char> block((size_t)std::clamp<uint64_t>(bytes, 1, 1 << 20));  // a small file needs no 1 MB buffer
    uLong crc = crc32(0, nullptr, 0);
    while (bytes > 0) {
        const size_t want = (size_t)std::min<uint64_t>(bytes, block.size());
        in.read(block.data(), (std::streamsize)want);
        if ((size_t)in.gcount() != want) throw std::runtime_error(path + ": shorter than its size while reading");
        crc = crc32(crc, (const Bytef*)block.data(), (uInt)want);
        bytes -= want;
    }
    return (uint32_t)crc;
}

// The target as an absolute, normalised path without a trailing slash, so that every spelling
// of one folder shares one lock and one set of temporaries.
fs::path normalised(const std::string& target) {
    fs::path p = fs::absolute(fs::path(target)).lexically_normal();
    if (!p.has_filename()) p = p.parent_path();
    const std::string name = p.filename().string();
    if (name.empty() || name == "." || name == ".." || p == p.root_path())
        throw std::runtime_error("'" + target + "' cannot be a run folder: name a folder to create, e.g. runs/mine");
    return p;
}

bool is_temporary_of(const std::string& entry, const std::string& name) {
    for (const char* kind : {".partial-", ".replaced-"}) {
        const std::string prefix = name + kind;
        if (entry.size() > prefix.size() && entry.compare(0, prefix.size(), prefix) == 0 &&
            entry.find_first_not_of("0123456789", prefix.size()) == std::string::npos)
            return true;
    }
    return false;
}

std::string run_identifier() {
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    return std::to_string(ns) + "-" + std::to_string(getpid());
}

}  // namespace

RunFolderWriter::RunFolderWriter(const std::string& target) {
    const fs::path path = normalised(target);
    const fs::path parent = path.parent_path();
    const std::string name = path.filename().string();
    target_ = path.string();
    make_directories(parent.string());
    const std::string lock_path = (parent / ("." + name + ".lock")).string();
    lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0) throw std::runtime_error("cannot create the lock " + lock_path + ": " + std::strerror(errno));
    // A POSIX record lock: the kernel releases it when the process dies and names its holder
    // (F_GETLK), so the refusal can say who writes without trusting anything in the file.
    struct flock whole_file {};
    whole_file.l_type = F_WRLCK, whole_file.l_whence = SEEK_SET;
    for (int attempt = 0; fcntl(lock_fd_, F_SETLK, &whole_file) != 0; ++attempt) {
        const int error = errno;
        struct flock holder = whole_file;
        const bool held = (error == EACCES || error == EAGAIN) && fcntl(lock_fd_, F_GETLK, &holder) == 0;
        if (held && holder.l_type == F_UNLCK && attempt < 100) continue;  // released in between: try again
        close(lock_fd_), lock_fd_ = -1;
        if (!held) throw std::runtime_error("cannot lock " + lock_path + ": " + std::strerror(error));
        throw std::runtime_error("run folder " + target_ + " is being written by process " +
                                 std::to_string(holder.l_pid) + " (lock " + lock_path +
                                 "); wait for it to finish or choose another --out");
    }
    const std::string pid = std::to_string(getpid());
    std::error_code error;
    for (const fs::directory_entry& e : fs::directory_iterator(parent, error))  // we hold the lock: every one is stale
        if (is_temporary_of(e.path().filename().string(), name)) fs::remove_all(e.path(), error);
    if (fs::exists(path)) {
        if (!fs::is_directory(path))
            throw std::runtime_error(target_ + " exists and is not a folder; choose another --out");
        if (!fs::is_empty(path) && !fs::exists(path / kManifest) && !fs::exists(path / "summary.json"))
            throw std::runtime_error(
                target_ +
                " exists and is not a run folder (no manifest.json or summary.json); it will not be replaced: "
                "choose another --out or remove it");
    }
    temporary_ = (parent / (name + ".partial-" + pid)).string();
    make_directories(temporary_);
    run_id_ = run_identifier();
}

RunFolderWriter::~RunFolderWriter() {
    std::error_code error;
    if (!committed_ && !temporary_.empty()) fs::remove_all(temporary_, error);
    if (lock_fd_ >= 0) close(lock_fd_);  // releases the lock
}

void RunFolderWriter::commit() {
    write_manifest(temporary_, run_id_);
    if (!fs::exists(target_)) {
        std::error_code error;
        fs::rename(temporary_, target_, error);
        if (error) throw std::runtime_error("cannot rename " + temporary_ + " to " + target_ + ": " + error.message());
    } else if (renameat2(AT_FDCWD, temporary_.c_str(), AT_FDCWD, target_.c_str(), RENAME_EXCHANGE) != 0) {
        // A file system without the exchange: two renames, and a short moment without the folder.
        const std::string replaced = fs::path(target_).string() + ".replaced-" + std::to_string(getpid());
        std::error_code error;
        fs::rename(target_, replaced, error);
        if (!error) fs::rename(temporary_, target_, error);
        if (error)
            throw std::runtime_error("cannot move " + temporary_ + " into place at " + target_ + ": " +
                                     error.message());
        fs::remove_all(replaced, error);
    } else {
        std::error_code error;
        fs::remove_all(temporary_, error);  // after the exchange it holds the old run
    }
    committed_ = true;
}

void write_manifest(const std::string& dir, const std::string& run_id) {
    std::set<std::string> names;
    for (const fs::directory_entry& e : fs::directory_iterator(dir))
        if (e.is_regular_file() && e.path().filename() != kManifest) names.insert(e.path().filename().string());
    nlohmann::json files = nlohmann::json::array();
    for (const std::string& name : names) {
        const uint64_t bytes = fs::file_size(dir + "/" + name);
        files.push_back({{"name", name}, {"bytes", bytes}, {"crc32", hex32(file_crc32(dir + "/" + name, bytes))}});
    }
    write_file_atomically(dir + "/" + kManifest, nlohmann::json({{"run_id", run_id}, {"files", files}}).dump(1) + "\n");
}

Manifest read_manifest(const std::string& dir) {
    const std::string path = dir + "/" + kManifest;
    if (!file_exists(dir)) throw std::runtime_error("run folder " + dir + " does not exist");
    if (!file_exists(path))
        throw std::runtime_error(
            dir +
            " is not a complete run folder: no manifest.json (written last by awd train; an older awd or an "
            "interrupted run leaves none): train it again");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(read_file(path));
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(path + ": not valid JSON (" + std::string(e.what()) + ")");
    }
    auto field_error = [&](const std::string& field, const std::string& problem) {
        return std::runtime_error(path + ": field " + field + " " + problem);
    };
    if (!j.is_object()) throw field_error("(top level)", "is not an object");
    if (!j.contains("run_id") || !j["run_id"].is_string()) throw field_error("run_id", "is missing or not a string");
    if (!j.contains("files") || !j["files"].is_array()) throw field_error("files", "is missing or not an array");
    if (j["files"].size() > kMaxManifestFiles)
        throw field_error(
            "files",
            "lists " + std::to_string(j["files"].size()) + " files, more than " + std::to_string(kMaxManifestFiles));
    Manifest m;
    m.run_id = j["run_id"];
    std::set<std::string> seen;
    for (size_t k = 0; k < j["files"].size(); ++k) {
        const nlohmann::json& f = j["files"][k];
        const std::string where = "files[" + std::to_string(k) + "]";
        if (!f.is_object()) throw field_error(where, "is not an object");
        if (!f.contains("name") || !f["name"].is_string())
            throw field_error(where + ".name", "is missing or not a string");
        const std::string name = f["name"];
        if (name.empty() || name.find('/') != std::string::npos || name == "." || name == ".." || name == kManifest)
            throw field_error(where + ".name", "'" + name + "' is not a file name of the folder");
        if (!seen.insert(name).second) throw field_error(where + ".name", "'" + name + "' is listed twice");
        if (!f.contains("bytes") || !f["bytes"].is_number_unsigned())
            throw field_error(where + ".bytes", "is missing or not a non-negative integer");
        const std::string crc = f.contains("crc32") && f["crc32"].is_string() ? f["crc32"].get<std::string>() : "";
        if (crc.size() != 8 || crc.find_first_not_of("0123456789abcdef") != std::string::npos)
            throw field_error(where + ".crc32", "is missing or not 8 lower-case hex digits");
        m.files.push_back({name, f["bytes"].get<uint64_t>(), (uint32_t)std::stoul(crc, nullptr, 16)});
    }
    return m;
}

Manifest verify_run_folder(const std::string& dir) {
    const Manifest m = read_manifest(dir);
    for (const ManifestEntry& f : m.files) {
        const std::string path = dir + "/" + f.name;
        std::error_code error;
        if (!fs::is_regular_file(path, error))
            throw std::runtime_error(path + " is listed in " + dir + "/manifest.json (run " + m.run_id +
                                     ") but missing: the folder is incomplete");
        const uint64_t bytes = fs::file_size(path, error);
        if (error || bytes != f.bytes)
            throw std::runtime_error(path + " has " + std::to_string(bytes) + " bytes, manifest.json of run " +
                                     m.run_id + " says " + std::to_string(f.bytes) +
                                     ": the file does not belong to this run");
        if (file_crc32(path, bytes) != f.crc32)
            throw std::runtime_error(path + ": checksum differs from manifest.json of run " + m.run_id +
                                     ": the file does not belong to this run");
    }
    return m;
}

ResumableRunFolder::ResumableRunFolder(const std::string& out, const std::string& settings_text,
                                       const std::string& checkpoint)
    : out_(out), partial_(out + ".partial") {
    fs::create_directories(partial_);
    if (fs::exists(partial_ + "/" + checkpoint)) {
        const std::string settings = partial_ + "/settings.json";
        if (!fs::exists(settings) || read_file(settings) != settings_text)
            throw std::runtime_error(
                partial_ + " holds an interrupted run with other settings; delete it or choose another --out");
        resuming_ = true;
    }
    write_file_atomically(partial_ + "/settings.json", settings_text);
}

void ResumableRunFolder::publish() const {
    if (fs::exists(out_)) {
        if (!fs::exists(out_ + "/summary.json"))
            throw std::runtime_error(out_ + " exists and is not a run folder; results left in " + partial_);
        fs::remove_all(out_);
    }
    fs::rename(partial_, out_);
}

std::vector<std::string> stale_temporaries(const std::string& root) {
    static const std::regex pattern(R"(.*(\.partial-|\.replaced-|\.tmp\.)([0-9]+)(\.png)?$)");
    std::vector<std::string> found;
    std::error_code error;
    for (fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, error), end;
         !error && it != end; it.increment(error)) {
        std::smatch m;
        const std::string name = it->path().filename().string();
        if (!std::regex_match(name, m, pattern)) continue;
        const long pid = std::stol(m[2].str().substr(0, 9));
        found.push_back(it->path().string() +
                        (process_running(pid) ? " (process " + m[2].str() + " still running)" : ""));
        if (it->is_directory()) it.disable_recursion_pending();
    }
    return found;
}

}  // namespace awd
