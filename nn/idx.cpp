// idx.cpp: the IDX reader, through zlib (which reads plain files transparently too).
#include "nn/idx.h"

#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>

namespace awd {

namespace {

struct GzCloser {
    void operator()(gzFile_s* f) const { gzclose(f); }
};

// Reads up to n bytes; throws on a corrupt stream, returns how many were read.
size_t read_some(gzFile f, const std::string& path, uint8_t* into, size_t n) {
    size_t total = 0;
    while (total < n) {
        const unsigned chunk = (unsigned)std::min<size_t>(n - total, 1u << 30);
        const int got = gzread(f, into + total, chunk);
        if (got < 0) {
            int code = 0;
            throw std::runtime_error(path + ": corrupt data (" + std::string(gzerror(f, &code)) + ")");
        }
        if (got == 0) break;
        total += (size_t)got;
    }
    return total;
}

}  // namespace

IdxArray read_idx(const std::string& path, int expected_dims) {
    std::unique_ptr<gzFile_s, GzCloser> file(gzopen(path.c_str(), "rb"));
    if (!file) throw std::runtime_error("cannot open IDX file " + path);
    gzFile f = file.get();
    uint8_t magic[4];
    if (read_some(f, path, magic, 4) != 4)
        throw std::runtime_error(path + ": too short for an IDX header (4-byte magic number)");
    char shown[16];
    std::snprintf(shown, sizeof shown, "0x%02X%02X%02X%02X", magic[0], magic[1], magic[2], magic[3]);
    if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] != expected_dims)
        throw std::runtime_error(path + ": wrong magic number " + shown + " (expected 0x000008" +
                                 (expected_dims < 10 ? "0" : "") + std::to_string(expected_dims) +
                                 ": unsigned bytes, " + std::to_string(expected_dims) + " dimension" +
                                 (expected_dims > 1 ? "s)" : ")"));
    IdxArray out;
    size_t count = 1;
    const size_t header_bytes = 4 + 4 * (size_t)expected_dims;
    for (int d = 0; d < expected_dims; ++d) {
        uint8_t b[4];
        if (read_some(f, path, b, 4) != 4)
            throw std::runtime_error(path + ": truncated header (dimension " + std::to_string(d) + " missing)");
        const uint32_t dim = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        if (dim == 0 || dim > (1u << 28))
            throw std::runtime_error(path + ": header field dimension " + std::to_string(d) + " is " +
                                     std::to_string(dim) + ", outside [1, 2^28]");
        out.dims.push_back((int)dim);
        if (__builtin_mul_overflow(count, (size_t)dim, &count))
            throw std::runtime_error(path + ": header dimensions multiply past 2^64 at dimension " + std::to_string(d));
    }
    // Before allocating: a plain file must hold exactly the promised values; a gzip stream can
    // expand at most 1032-fold (deflate's limit), and is read in blocks as the data arrives.
    std::error_code error;
    const uint64_t file_bytes = std::filesystem::file_size(path, error);
    const bool compressed = !gzdirect(f);
    const uint64_t most = compressed ? file_bytes * 1032 : file_bytes - std::min<uint64_t>(file_bytes, header_bytes);
    if (!error && (compressed ? count > most : count != most))
        throw std::runtime_error(
            path + ": header dimensions promise " + std::to_string(count) + " values, the " +
            std::to_string(file_bytes) + "-byte " + (compressed ? "gzip " : "") + "file " +
            (compressed ? "can hold at most " : "holds ") + std::to_string(most) +
            (count > most ? " (truncated or wrong count)" : " (wrong count: data continues past them)"));
    size_t got = 0;
    for (const size_t block = 1 << 22; got < count;) {
        out.values.resize(std::min(count, got + block));
        const size_t n = read_some(f, path, out.values.data() + got, out.values.size() - got);
        got += n;
        if (got < out.values.size()) break;
    }
    if (got != count)
        throw std::runtime_error(path + ": truncated: the header promises " + std::to_string(count) +
                                 " values, the file holds " + std::to_string(got));
    uint8_t extra;
    if (read_some(f, path, &extra, 1) != 0)
        throw std::runtime_error(path + ": wrong count: data continues past the " + std::to_string(count) +
                                 " values the header promises");
    return out;
}

}  // namespace awd
