// files.cpp: atomic file writes and the .npy reader and writer.
#include "nn/files.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace awd {

namespace {

// FILE.tmp.PID left by a writer of FILE that was killed: removed by the next writer of FILE.
void remove_dead_temporaries(const std::filesystem::path& target) {
    const std::string prefix = target.filename().string() + ".tmp.";
    std::error_code error;
    for (const auto& entry :
         std::filesystem::directory_iterator(target.parent_path().empty() ? "." : target.parent_path(), error)) {
        const std::string name = entry.path().filename().string();
        if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0 ||
            name.size() - prefix.size() > 9 || name.find_first_not_of("0123456789", prefix.size()) != std::string::npos)
            continue;
        const pid_t pid = (pid_t)std::stol(name.substr(prefix.size()));
        if (kill(pid, 0) != 0 && errno == ESRCH) std::filesystem::remove(entry.path(), error);
    }
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& bytes) {
    const std::string temporary = path + ".tmp." + std::to_string(getpid());
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        if (!out) throw std::runtime_error("cannot write " + temporary + ": " + std::strerror(errno));
        out.write(bytes.data(), (std::streamsize)bytes.size());
        out.flush();
        if (!out) {  // e.g. a full disk: leave nothing behind
            const std::string reason = std::strerror(errno);
            std::filesystem::remove(temporary);
            throw std::runtime_error("writing " + path + " failed: " + reason);
        }
    }
    std::error_code error;
    std::filesystem::rename(temporary, path, error);
    if (error) {
        std::filesystem::remove(temporary);
        throw std::runtime_error("cannot rename " + temporary + " to " + path + ": " + error.message());
    }
    remove_dead_temporaries(path);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
    const std::streamoff size = in.tellg();
    if (size < 0) {  // not a regular file (a pipe): read until it ends
        in.clear(), in.seekg(0);
        std::ostringstream content;
        content << in.rdbuf();
        return content.str();
    }
    // one allocation of the known size and one read: a 25 MB array is not copied four times
    std::string content((size_t)size, '\0');
    in.seekg(0);
    if (!in.read(content.data(), size))
        throw std::runtime_error("cannot read " + path + ": it ended before its " + std::to_string(size) + " bytes");
    return content;
}

bool file_exists(const std::string& path) { return std::filesystem::exists(path); }

void make_directories(const std::string& path) {
    std::error_code error;
    std::filesystem::create_directories(path, error);
    if (error) throw std::runtime_error("cannot create folder " + path + ": " + error.message());
}

namespace {

const char kMagic[] = "\x93NUMPY";

std::string npy_bytes(const char* descr, const std::string& shape, const void* data, size_t bytes) {
    std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
    const size_t unpadded = 6 + 2 + 2 + header.size() + 1;  // magic, version, length, header, newline
    header.append((64 - unpadded % 64) % 64, ' ');
    header += '\n';
    std::string out(kMagic, 6);
    out += '\x01', out += '\x00';
    out += (char)(header.size() & 0xff), out += (char)(header.size() >> 8);
    out += header;
    out.append((const char*)data, bytes);
    return out;
}

struct NpyHeader {
    std::string descr;
    std::vector<size_t> shape;
    size_t data_offset = 0;
};

// The header is a Python dict literal, {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), },
// read strictly: exactly these three keys, each once, and nothing but padding after it.
class NpyHeaderParser {
public:
    NpyHeaderParser(const std::string& path, const std::string& text) : path_(path), text_(text) {}

    NpyHeader parse() {
        NpyHeader h;
        bool have_descr = false, have_order = false, have_shape = false;
        expect('{', "the header dict");
        for (skip_spaces(); peek() != '}'; skip_spaces()) {
            const std::string key = quoted("a key");
            expect(':', "'" + key + "'");
            if (key == "descr" && !have_descr) {
                h.descr = quoted("'descr'"), have_descr = true;
            } else if (key == "fortran_order" && !have_order) {
                if (word("True"))
                    fail("'fortran_order'",
                         "True: Fortran-ordered arrays are not supported; save with np.ascontiguousarray");
                if (!word("False")) fail("'fortran_order'", "is not True or False");
                have_order = true;
            } else if (key == "shape" && !have_shape) {
                h.shape = shape(), have_shape = true;
            } else {
                fail("'" + key + "'", "is an unknown or repeated key");
            }
            skip_spaces();
            if (peek() == ',') ++at_;
            else if (peek() != '}') fail("the header dict", "has no ',' or '}' after '" + key + "'");
        }
        ++at_;
        if (text_.find_first_not_of(" \t\n", at_) != std::string::npos)
            fail("the header", "continues after its closing '}'");
        if (!have_descr) fail("'descr'", "is missing");
        if (!have_order) fail("'fortran_order'", "is missing");
        if (!have_shape) fail("'shape'", "is missing");
        return h;
    }

private:
    [[noreturn]] void fail(const std::string& field, const std::string& problem) const {
        throw std::runtime_error(path_ + ": .npy header field " + field + " " + problem);
    }
    char peek() const { return at_ < text_.size() ? text_[at_] : '\0'; }
    void skip_spaces() {
        while (peek() == ' ' || peek() == '\t' || peek() == '\n') ++at_;
    }
    void expect(char c, const std::string& field) {
        skip_spaces();
        if (peek() != c) fail(field, std::string("lacks '") + c + "'");
        ++at_;
    }
    bool word(const std::string& w) {
        skip_spaces();
        if (text_.compare(at_, w.size(), w) != 0) return false;
        at_ += w.size();
        return true;
    }
    std::string quoted(const std::string& field) {
        skip_spaces();
        const char quote = peek();
        if (quote != '\'' && quote != '"') fail(field, "is not a quoted string");
        const size_t close = text_.find(quote, at_ + 1);
        if (close == std::string::npos) fail(field, "has no closing quote");
        std::string value = text_.substr(at_ + 1, close - at_ - 1);
        at_ = close + 1;
        return value;
    }
    // A tuple of non-negative integers, each at most INT32_MAX (a Tensor's dimensions are int).
    std::vector<size_t> shape() {
        std::vector<size_t> dims;
        expect('(', "'shape'");
        for (skip_spaces(); peek() != ')'; skip_spaces()) {
            const size_t begin = at_;
            while (peek() >= '0' && peek() <= '9') ++at_;
            const std::string digits = text_.substr(begin, at_ - begin);
            if (digits.empty()) fail("'shape'", "holds '" + text_.substr(begin, 12) + "', not a non-negative integer");
            if (digits.size() > 1 && digits[0] == '0')
                fail("'shape'", "dimension " + digits + " has a leading zero (not a Python integer)");
            if (digits.size() > 10 || std::stoull(digits) > (unsigned long long)INT32_MAX)
                fail("'shape'",
                     "dimension " + (digits.size() > 24 ? digits.substr(0, 24) + "..." : digits) +
                         " is larger than 2^31 - 1");
            dims.push_back(std::stoull(digits));
            skip_spaces();
            if (peek() == ',') ++at_;
            else if (peek() != ')') fail("'shape'", "has no ',' or ')' after dimension " + digits);
            else if (dims.size() == 1)
                fail("'shape'", "(" + digits + ") is not a tuple: a 1-D shape is written (" + digits + ",)");
        }
        ++at_;
        return dims;
    }

    const std::string& path_;
    const std::string& text_;
    size_t at_ = 0;
};

NpyHeader parse_npy(const std::string& path, const std::string& bytes) {
    if (bytes.size() < 10 || bytes.compare(0, 6, kMagic, 6) != 0)
        throw std::runtime_error(path + ": not a .npy file (the magic string \\x93NUMPY is missing)");
    const int major = (unsigned char)bytes[6], minor = (unsigned char)bytes[7];
    if (minor != 0)
        throw std::runtime_error(path + ": unsupported .npy version " + std::to_string(major) + "." +
                                 std::to_string(minor));
    size_t header_length, start;
    if (major == 1) {
        header_length = (unsigned char)bytes[8] | ((size_t)(unsigned char)bytes[9] << 8), start = 10;
    } else if ((major == 2 || major == 3) && bytes.size() >= 12) {
        header_length = 0;
        for (int k = 3; k >= 0; --k) header_length = (header_length << 8) | (unsigned char)bytes[8 + k];
        start = 12;
    } else {
        throw std::runtime_error(path + ": unsupported .npy version " + std::to_string(major));
    }
    if (header_length > bytes.size() - start)
        throw std::runtime_error(path + ": .npy header length " + std::to_string(header_length) +
                                 " runs past the end of the " + std::to_string(bytes.size()) + "-byte file");
    NpyHeader h = NpyHeaderParser(path, bytes.substr(start, header_length)).parse();
    h.data_offset = start + header_length;
    return h;
}

template <class T>
std::vector<T> npy_data(const std::string& path, const std::string& bytes, const NpyHeader& h, const char* descr) {
    if (h.descr != descr)
        throw std::runtime_error(path + ": .npy header field 'descr' is '" + h.descr + "', expected '" + descr + "'");
    const size_t have = bytes.size() - h.data_offset;
    size_t count = 1;
    for (size_t d : h.shape)
        if (__builtin_mul_overflow(count, d, &count) || count > have / sizeof(T)) {
            count = SIZE_MAX;  // more than the file holds: reported below without forming the product
            break;
        }
    if (count == SIZE_MAX || have != count * sizeof(T)) {
        std::string shape;
        for (size_t d : h.shape) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
        throw std::runtime_error(
            path + ": .npy header field 'shape' (" + shape + ") does not fit the " + std::to_string(have) +
            " bytes of data (" +
            (count == SIZE_MAX || have < count * sizeof(T) ? "truncated or wrong shape" : "extra bytes") + ")");
    }
    std::vector<T> values(count);
    if (count) std::memcpy(values.data(), bytes.data() + h.data_offset, count * sizeof(T));
    return values;
}

}  // namespace

void write_npy(const std::string& path, const Tensor& matrix) {
    const std::string shape = "(" + std::to_string(matrix.rows) + ", " + std::to_string(matrix.cols) + ")";
    write_file_atomically(path, npy_bytes("<f8", shape, matrix.data.data(), matrix.size() * sizeof(double)));
}

void write_npy(const std::string& path, const std::vector<double>& vector) {
    write_file_atomically(
        path,
        npy_bytes("<f8", "(" + std::to_string(vector.size()) + ",)", vector.data(), vector.size() * sizeof(double)));
}

void write_npy(const std::string& path, const std::vector<int64_t>& vector) {
    write_file_atomically(
        path,
        npy_bytes("<i8", "(" + std::to_string(vector.size()) + ",)", vector.data(), vector.size() * sizeof(int64_t)));
}

Tensor read_npy_matrix(const std::string& path) {
    const std::string bytes = read_file(path);
    const NpyHeader h = parse_npy(path, bytes);
    if (h.shape.empty() || h.shape.size() > 2)
        throw std::runtime_error(path + ": .npy header field 'shape' has " + std::to_string(h.shape.size()) +
                                 " dimensions, expected 1 or 2");
    std::vector<double> values = npy_data<double>(path, bytes, h, "<f8");
    Tensor matrix((int)h.shape[0], h.shape.size() == 2 ? (int)h.shape[1] : 1, std::move(values));
    require_finite(matrix, path);  // names the first non-finite entry; no result of this project may hold one
    return matrix;
}

std::vector<int64_t> read_npy_int64(const std::string& path) {
    const std::string bytes = read_file(path);
    const NpyHeader h = parse_npy(path, bytes);
    if (h.shape.size() != 1)
        throw std::runtime_error(path + ": .npy header field 'shape' has " + std::to_string(h.shape.size()) +
                                 " dimensions, expected 1");
    return npy_data<int64_t>(path, bytes, h, "<i8");
}

}  // namespace awd
