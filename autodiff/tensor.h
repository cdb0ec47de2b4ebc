// tensor.h: the one data type of the autodiff layer, a dense row-major matrix of doubles.
//
// Two dimensions are enough for everything this project differentiates: a batch of samples
// is (N, features), a weight is (n_out, n_in), a scalar is (1, 1), a flat parameter vector
// theta is (P, 1). Matrix products go through cblas_dgemm; everything else is a plain loop.
#pragma once

#include <string>
#include <vector>

namespace awd {

struct Tensor {
    int rows = 0, cols = 0;
    std::vector<double> data;  // row-major: element (i, j) is data[i * cols + j]

    Tensor() = default;
    Tensor(int rows, int cols, double fill = 0.0);
    Tensor(int rows, int cols, std::vector<double> values);

    static Tensor scalar(double v) { return Tensor(1, 1, v); }

    double& operator()(int i, int j) { return data[(size_t)i * cols + j]; }
    double operator()(int i, int j) const { return data[(size_t)i * cols + j]; }
    double& operator[](size_t k) { return data[k]; }
    double operator[](size_t k) const { return data[k]; }

    size_t size() const { return data.size(); }
    bool empty() const { return data.empty(); }
    bool same_shape(const Tensor& o) const { return rows == o.rows && cols == o.cols; }
    double item() const;               // the value of a (1, 1) tensor
    std::string shape() const;         // "(rows x cols)", for error messages
};

// C = alpha * op(A) op(B) + beta * C, op = transpose when the flag is set. C must already
// have the right shape when beta != 0; otherwise it is resized.
void gemm(const Tensor& A, bool transpose_a, const Tensor& B, bool transpose_b, Tensor& C,
          double alpha = 1.0, double beta = 0.0);
Tensor matmul(const Tensor& A, const Tensor& B, bool transpose_a = false, bool transpose_b = false);
Tensor transpose(const Tensor& A);

// Norms and comparisons used by checks and tests.
double frobenius_norm(const Tensor& A);
double max_abs(const Tensor& A);
double relative_difference(const Tensor& A, const Tensor& B);  // |A - B|_F / max(|B|_F, tiny)
double symmetry_residual(const Tensor& A);                     // |A - A^T|_F / |A|_F

// Throws std::invalid_argument naming `what` and the first non-finite entry, if any.
void require_finite(const Tensor& A, const std::string& what);

}  // namespace awd
