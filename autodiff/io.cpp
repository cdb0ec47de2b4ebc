// io.cpp: atomic file writes and the .npy format.
#include "autodiff/io.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace awd {

void write_file_atomically(const std::string& path, const std::string& bytes) {
    const std::string temporary = path + ".tmp." + std::to_string(getpid());
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        if (!out) throw std::runtime_error("cannot write " + temporary + ": " + std::strerror(errno));
        out.write(bytes.data(), (std::streamsize)bytes.size());
        out.flush();
        if (!out) throw std::runtime_error("writing " + temporary + " failed: " + std::strerror(errno));
    }
    std::error_code error;
    std::filesystem::rename(temporary, path, error);
    if (error) {
        std::filesystem::remove(temporary);
        throw std::runtime_error("cannot rename " + temporary + " to " + path + ": " + error.message());
    }
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
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

NpyHeader parse_npy(const std::string& path, const std::string& bytes) {
    if (bytes.size() < 10 || bytes.compare(0, 6, kMagic, 6) != 0)
        throw std::runtime_error(path + ": not a .npy file (the magic string \\x93NUMPY is missing)");
    const int major = (unsigned char)bytes[6];
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
    if (start + header_length > bytes.size()) throw std::runtime_error(path + ": truncated .npy header");
    const std::string header = bytes.substr(start, header_length);
    std::smatch m;
    NpyHeader h;
    h.data_offset = start + header_length;
    if (!std::regex_search(header, m, std::regex("'descr':\\s*'([^']*)'"))) throw std::runtime_error(path + ": .npy header has no 'descr'");
    h.descr = m[1];
    if (std::regex_search(header, m, std::regex("'fortran_order':\\s*True")))
        throw std::runtime_error(path + ": Fortran-ordered arrays are not supported; save with np.ascontiguousarray");
    if (!std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)"))) throw std::runtime_error(path + ": .npy header has no 'shape'");
    std::stringstream dims(m[1].str());
    for (std::string d; std::getline(dims, d, ',');) {
        if (d.find_first_not_of(" ") == std::string::npos) continue;
        h.shape.push_back(std::stoull(d));
    }
    return h;
}

template <class T>
std::vector<T> npy_data(const std::string& path, const std::string& bytes, const NpyHeader& h, const char* descr) {
    if (h.descr != descr)
        throw std::runtime_error(path + ": dtype '" + h.descr + "', expected '" + descr + "'");
    size_t count = 1;
    for (size_t d : h.shape) count *= d;
    const size_t have = bytes.size() - h.data_offset;
    if (have != count * sizeof(T))
        throw std::runtime_error(path + ": shape needs " + std::to_string(count * sizeof(T)) + " bytes of data, file has " +
                                 std::to_string(have) + (have < count * sizeof(T) ? " (truncated)" : " (extra bytes)"));
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
    write_file_atomically(path, npy_bytes("<f8", "(" + std::to_string(vector.size()) + ",)", vector.data(), vector.size() * sizeof(double)));
}

void write_npy(const std::string& path, const std::vector<int64_t>& vector) {
    write_file_atomically(path, npy_bytes("<i8", "(" + std::to_string(vector.size()) + ",)", vector.data(), vector.size() * sizeof(int64_t)));
}

Tensor read_npy_matrix(const std::string& path) {
    const std::string bytes = read_file(path);
    const NpyHeader h = parse_npy(path, bytes);
    if (h.shape.empty() || h.shape.size() > 2)
        throw std::runtime_error(path + ": expected a 1-D or 2-D array, found " + std::to_string(h.shape.size()) + " dimensions");
    std::vector<double> values = npy_data<double>(path, bytes, h, "<f8");
    return Tensor((int)h.shape[0], h.shape.size() == 2 ? (int)h.shape[1] : 1, std::move(values));
}

std::vector<int64_t> read_npy_int64(const std::string& path) {
    const std::string bytes = read_file(path);
    const NpyHeader h = parse_npy(path, bytes);
    if (h.shape.size() != 1) throw std::runtime_error(path + ": expected a 1-D array, found " + std::to_string(h.shape.size()) + " dimensions");
    return npy_data<int64_t>(path, bytes, h, "<i8");
}

}  // namespace awd
