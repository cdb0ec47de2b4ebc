// idx.h: reader for the IDX format of the MNIST family (gzip-compressed or plain).
// Is not: the choice of subsets (data.h).
//
// Layout: a 4-byte magic number (0, 0, type, number of dimensions), the dimensions as
// big-endian 32-bit integers, then the values. Only unsigned bytes (type 0x08) occur in the
// digit data sets: 0x00000801 is a label file (1-D), 0x00000803 an image file (3-D).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace awd {

struct IdxArray {
    std::vector<int> dims;        // e.g. {60000, 28, 28}
    std::vector<uint8_t> values;  // row-major
};

// Reads and validates the file: magic number, number of dimensions (must be `expected_dims`),
// and that the data is exactly as long as the dimensions say. Errors name the file and the
// problem (std::runtime_error).
IdxArray read_idx(const std::string& path, int expected_dims);

}  // namespace awd
