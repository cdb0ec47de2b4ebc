// files.h: writing files atomically, and NumPy .npy arrays in and out.
// Is not: a run folder's layout (experiments/common/run_folder.h).
//
// Every file the project writes goes through write_file_atomically: the bytes go to a
// temporary file in the same folder, which is then renamed over the target, so a reader (or a
// crash) never sees half a file. .npy files are format version 1.0, little-endian, C order:
// float64 ('<f8') for real arrays, int64 ('<i8') for labels and flags.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "autodiff/tensor.h"

namespace awd {

void write_file_atomically(const std::string& path, const std::string& bytes);
std::string read_file(const std::string& path);  // throws naming the file when it cannot be read
bool file_exists(const std::string& path);
void make_directories(const std::string& path);

void write_npy(const std::string& path, const Tensor& matrix);                // float64, shape (rows, cols)
void write_npy(const std::string& path, const std::vector<double>& vector);   // float64, shape (n,)
void write_npy(const std::string& path, const std::vector<int64_t>& vector);  // int64, shape (n,)

// Readers check the magic string, the header, the dtype and that the data is exactly as long
// as the shape says; any mismatch throws std::runtime_error naming the file and the problem.
Tensor read_npy_matrix(const std::string& path);               // float64, 2-D (a 1-D array becomes (n, 1))
std::vector<int64_t> read_npy_int64(const std::string& path);  // int64, 1-D

}  // namespace awd
