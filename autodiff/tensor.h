// tensor.h: the one data type of the autodiff layer, a dense row-major matrix of doubles.
// Is not: a graph node (autodiff.h) or an N-dimensional array.
//
// Two dimensions are enough for everything this project differentiates: a batch of samples
// is (N, features), a weight is (n_out, n_in), a scalar is (1, 1), a flat parameter vector
// theta is (P, 1). Matrix products go through product() (product.h); everything else is a plain loop.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace awd {

// The values of a tensor: an owned array, or a view of someone else's (a parameter inside a
// model's flat buffer is a view, so the graph reads it without a copy). Copying a Storage
// always copies the values into an owned array; moving a view keeps it a view.
//
// Where owned values live, by size: up to four inside the Storage itself (a toy model's scalars
// need no heap at all); 1024 or more in arrays from, and back to, a per-thread pool of freed
// arrays of the same size (a training step makes the same tensors every time, and without the
// pool each large one is a fresh mmap whose pages fault in again: that, not arithmetic, was
// most of a one-example step); in between, an ordinary vector.
class Storage {
public:
    Storage() = default;
    Storage(size_t n, double fill) { own(n), std::fill(ptr_, ptr_ + n, fill); }
    // n values left as they are (an op's result, about to be overwritten)
    static Storage uninitialized(size_t n) {
        Storage s;
        s.own(n);
        return s;
    }
    Storage(std::vector<double> values) : owned_(std::move(values)), ptr_(owned_.data()), size_(owned_.size()) {}
    ~Storage() {
        if (owned_.size() >= kPooledMinimum) give_back_array(std::move(owned_));
    }
    static Storage view(double* values, size_t n) {
        Storage s;
        s.ptr_ = values, s.size_ = n, s.is_view_ = true;
        return s;
    }
    Storage(const Storage& o) { own(o.size()), std::copy(o.begin(), o.end(), ptr_); }
    Storage(Storage&& o) noexcept { *this = std::move(o); }
    Storage& operator=(const Storage& o) {
        if (this == &o) return *this;
        if (is_view_ || size_ != o.size()) own(o.size());
        std::copy(o.begin(), o.end(), ptr_);
        return *this;
    }
    Storage& operator=(Storage&& o) noexcept {
        if (this == &o) return *this;
        if (owned_.size() >= kPooledMinimum) give_back_array(std::move(owned_));
        owned_ = std::move(o.owned_), size_ = o.size_, is_view_ = o.is_view_;
        if (o.ptr_ == o.inline_) {
            std::copy(o.inline_, o.inline_ + o.size_, inline_), ptr_ = inline_;
        } else {
            ptr_ = o.ptr_;  // a view's pointer, or the moved vector's array (a move keeps it)
        }
        o.owned_ = {}, o.ptr_ = nullptr, o.size_ = 0, o.is_view_ = false;
        return *this;
    }

    double* data() { return ptr_; }
    const double* data() const { return ptr_; }
    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    bool is_view() const { return is_view_; }
    double& operator[](size_t k) { return ptr_[k]; }
    const double& operator[](size_t k) const { return ptr_[k]; }
    double* begin() { return ptr_; }
    double* end() { return ptr_ + size_; }
    const double* begin() const { return ptr_; }
    const double* end() const { return ptr_ + size_; }
    void assign(size_t n, double v) {
        if (is_view_ || size_ != n) own(n);
        std::fill(ptr_, ptr_ + n, v);
    }
    std::vector<double> to_vector() const { return std::vector<double>(begin(), end()); }
    bool operator==(const Storage& o) const { return size_ == o.size_ && std::equal(begin(), end(), o.begin()); }
    bool operator==(const std::vector<double>& v) const {
        return size_ == v.size() && std::equal(begin(), end(), v.begin());
    }

private:
    static constexpr size_t kInline = 4, kPooledMinimum = 1024;  // below the pool's minimum, malloc is fast enough
    static std::vector<double> take_array(size_t n);             // n values, stale if reused
    static void give_back_array(std::vector<double>&& a);        // keeps it for the next take of its size
    // Room for n owned values, not initialised; what was held before is let go.
    void own(size_t n) {
        if (owned_.size() >= kPooledMinimum) give_back_array(std::move(owned_));
        owned_ = {};
        if (n <= kInline) {
            ptr_ = inline_;
        } else {
            owned_ = take_array(n), ptr_ = owned_.data();
        }
        size_ = n, is_view_ = false;
    }
    std::vector<double> owned_;
    double inline_[kInline];
    double* ptr_ = nullptr;
    size_t size_ = 0;
    bool is_view_ = false;
};

struct Tensor {
    int rows = 0, cols = 0;
    Storage data;  // row-major: element (i, j) is data[i * cols + j]

    Tensor() = default;
    Tensor(int rows, int cols, double fill = 0.0);
    Tensor(int rows, int cols, std::vector<double> values);

    static Tensor scalar(double v) { return Tensor(1, 1, v); }
    // Values left unset: for results that are written in full right away.
    static Tensor uninitialized(int rows, int cols);
    // A (rows, cols) tensor over values owned by someone else, who must keep them alive.
    static Tensor view(double* values, int rows, int cols);
    // The same over values that must only be read through it (data fed to a graph, a chunk of
    // samples): the one place where a view drops the const of what it looks at.
    static Tensor read_only_view(const double* values, int rows, int cols) {
        return view(const_cast<double*>(values), rows, cols);
    }

    double& operator()(int i, int j) { return data[(size_t)i * cols + j]; }
    double operator()(int i, int j) const { return data[(size_t)i * cols + j]; }
    double& operator[](size_t k) { return data[k]; }
    double operator[](size_t k) const { return data[k]; }

    size_t size() const { return data.size(); }
    bool empty() const { return data.empty(); }
    bool same_shape(const Tensor& o) const { return rows == o.rows && cols == o.cols; }
    double item() const;        // the value of a (1, 1) tensor
    std::string shape() const;  // "(rows x cols)", for error messages
};

// C = alpha * op(A) op(B) + beta * C, op = transpose when the flag is set. C must already
// have the right shape when beta != 0; otherwise it is resized.
void gemm(const Tensor& A, bool transpose_a, const Tensor& B, bool transpose_b, Tensor& C, double alpha = 1.0,
          double beta = 0.0);
Tensor matmul(const Tensor& A, const Tensor& B, bool transpose_a = false, bool transpose_b = false);
Tensor transpose(const Tensor& A);

// Norms and comparisons used by checks and tests.
double frobenius_norm(const Tensor& A);
double max_abs(const Tensor& A);
double relative_difference(const Tensor& A, const Tensor& B);  // |A - B|_F / max(|B|_F, tiny)
double symmetry_residual(const Tensor& A);                     // |A - A^T|_F / |A|_F

// 1 when v is NaN or infinite (exponent bits all ones), else 0: an integer test that loops can
// OR together and still vectorise (no floating-point comparison to reassociate).
inline uint64_t non_finite_bit(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    return (bits & 0x7ff0000000000000ull) == 0x7ff0000000000000ull;
}
// True when none of the n values is NaN or infinite; fast (vectorised), for hot paths.
bool all_finite(const double* values, size_t n);
// Throws std::invalid_argument naming `what` and the first non-finite entry, if any.
void require_finite(const Tensor& A, const std::string& what);

}  // namespace awd
