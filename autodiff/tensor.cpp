// tensor.cpp: construction, BLAS-backed products and the few norms every layer above needs.
#include "autodiff/tensor.h"

#include <cblas.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include "autodiff/product.h"

namespace awd {

namespace {

constexpr size_t kPoolLimitBytes = 512u << 20;  // never hold more than this in freed arrays

struct ArrayPool {
    std::unordered_map<size_t, std::vector<std::vector<double>>> free;  // by capacity
    size_t bytes = 0;
    ~ArrayPool() { destroyed = true; }
    static thread_local bool destroyed;  // storages that outlive the pool (statics) free normally
};
thread_local bool ArrayPool::destroyed = false;
thread_local ArrayPool pool;

}  // namespace

std::vector<double> Storage::take_array(size_t n) {
    if (n >= kPooledMinimum && !ArrayPool::destroyed) {
        auto it = pool.free.find(n);
        if (it != pool.free.end() && !it->second.empty()) {
            std::vector<double> a = std::move(it->second.back());
            it->second.pop_back();
            pool.bytes -= n * sizeof(double);
            return a;
        }
    }
    return std::vector<double>(n);
}

void Storage::give_back_array(std::vector<double>&& a) {
    const size_t n = a.size(), bytes = n * sizeof(double);
    if (n < kPooledMinimum || n != a.capacity() || ArrayPool::destroyed || bytes > kPoolLimitBytes) return;
    // Over the limit, arrays of other sizes make room: the array just freed is the likelier to be
    // asked for again (the next step, the next call), not what an earlier phase left behind.
    for (auto it = pool.free.begin(); pool.bytes + bytes > kPoolLimitBytes && it != pool.free.end();) {
        if (it->first != n && !it->second.empty()) {
            pool.bytes -= it->first * sizeof(double);
            it->second.pop_back();
        } else {
            ++it;
        }
    }
    if (pool.bytes + bytes > kPoolLimitBytes) return;  // the pool is full of arrays of this very size
    pool.free[n].push_back(std::move(a));
    pool.bytes += bytes;
}

Tensor::Tensor(int r, int c, double fill) : rows(r), cols(c) {
    if (r < 0 || c < 0)
        throw std::invalid_argument("Tensor: negative shape (" + std::to_string(r) + " x " + std::to_string(c) + ")");
    data.assign((size_t)r * c, fill);
}

Tensor::Tensor(int r, int c, std::vector<double> values) : rows(r), cols(c), data(std::move(values)) {
    if (r < 0 || c < 0 || data.size() != (size_t)r * c)
        throw std::invalid_argument("Tensor: " + std::to_string(data.size()) + " values do not fill shape (" +
                                    std::to_string(r) + " x " + std::to_string(c) + ")");
}

Tensor Tensor::uninitialized(int r, int c) {
    if (r < 0 || c < 0)
        throw std::invalid_argument("Tensor: negative shape (" + std::to_string(r) + " x " + std::to_string(c) + ")");
    Tensor t;
    t.rows = r, t.cols = c;
    t.data = Storage::uninitialized((size_t)r * c);
    return t;
}

Tensor Tensor::view(double* values, int r, int c) {
    if (r < 0 || c < 0)
        throw std::invalid_argument("Tensor::view: negative shape (" + std::to_string(r) + " x " + std::to_string(c) +
                                    ")");
    Tensor t;
    t.rows = r, t.cols = c;
    t.data = Storage::view(values, (size_t)r * c);
    return t;
}

double Tensor::item() const {
    if (rows != 1 || cols != 1) throw std::invalid_argument("Tensor::item: tensor is " + shape() + ", not (1 x 1)");
    return data[0];
}

std::string Tensor::shape() const { return "(" + std::to_string(rows) + " x " + std::to_string(cols) + ")"; }

void gemm(const Tensor& A, bool ta, const Tensor& B, bool tb, Tensor& C, double alpha, double beta) {
    // op(A) is (m, k), op(B) is (k, n), C is (m, n)
    const int m = ta ? A.cols : A.rows, k = ta ? A.rows : A.cols;
    const int kb = tb ? B.cols : B.rows, n = tb ? B.rows : B.cols;
    if (k != kb)
        throw std::invalid_argument("matmul: shapes " + A.shape() + (ta ? "^T" : "") + " and " + B.shape() +
                                    (tb ? "^T" : "") + " do not align (inner " + std::to_string(k) + " vs " +
                                    std::to_string(kb) + ")");
    if (beta == 0.0) {
        if (C.rows != m || C.cols != n) C = Tensor::uninitialized(m, n);
    } else if (C.rows != m || C.cols != n) {
        throw std::invalid_argument("gemm: accumulator is " + C.shape() + ", product is (" + std::to_string(m) + " x " +
                                    std::to_string(n) + ")");
    }
    if (m == 0 || n == 0) return;
    if (k == 0) {                                                   // empty inner dimension: the product is zero
        for (double& c : C.data) c = beta == 0.0 ? 0.0 : c * beta;  // C may hold stale values
        return;
    }
    const double *a = A.data.data(), *b = B.data.data();
    double* c = C.data.data();
    // One example (a row or a column) is a matrix-vector product: dgemv reads the matrix in
    // place, where dgemm would first pack all of it. A single example is the continual learner's
    // whole step, so this is most of its time.
    if (m == 1 || n == 1) {
        if (beta == 0.0) std::fill(c, c + (size_t)m * n, 0.0);  // stale values must not leak in (0 * NaN)
        if (m == 1)  // c = op(B)^T a: a holds op(A)'s k values contiguously whatever ta says
            cblas_dgemv(CblasRowMajor, tb ? CblasNoTrans : CblasTrans, B.rows, B.cols, alpha, b, B.cols, a, 1, beta, c,
                        1);
        else  // c = op(A) b
            cblas_dgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, A.rows, A.cols, alpha, a, A.cols, b, 1, beta, c,
                        1);
        return;
    }
    if (k == 1) {                      // an outer product (one example's weight gradient): nothing to pack or sum
        for (int i = 0; i < m; ++i) {  // a and b hold their m and n values contiguously
            const double ai = alpha * a[i];
            double* __restrict row = c + (size_t)i * n;
            if (beta == 0.0)
                for (int j = 0; j < n; ++j) row[j] = ai * b[j];
            else
                for (int j = 0; j < n; ++j) row[j] = beta * row[j] + ai * b[j];
        }
        return;
    }
    product(ta, tb, m, n, k, alpha, a, A.cols, b, B.cols, beta, c, n);
}

Tensor matmul(const Tensor& A, const Tensor& B, bool ta, bool tb) {
    Tensor C;
    gemm(A, ta, B, tb, C);
    return C;
}

Tensor transpose(const Tensor& A) {
    Tensor T = Tensor::uninitialized(A.cols, A.rows);
    for (int i = 0; i < A.rows; ++i)
        for (int j = 0; j < A.cols; ++j) T(j, i) = A(i, j);
    return T;
}

double frobenius_norm(const Tensor& A) {
    // scaled sum of squares: no overflow for huge entries, no underflow for tiny ones
    double scale = max_abs(A), sum = 0.0;
    if (scale == 0.0 || !std::isfinite(scale)) return scale;
    for (double v : A.data) sum += (v / scale) * (v / scale);
    return scale * std::sqrt(sum);
}

double max_abs(const Tensor& A) {
    double m = 0.0;
    for (double v : A.data) m = std::max(m, std::fabs(v));
    return m;
}

double relative_difference(const Tensor& A, const Tensor& B) {
    if (!A.same_shape(B)) throw std::invalid_argument("relative_difference: shapes " + A.shape() + " and " + B.shape());
    Tensor D(A.rows, A.cols);
    for (size_t k = 0; k < A.size(); ++k) D[k] = A[k] - B[k];
    return frobenius_norm(D) / std::max(frobenius_norm(B), 1e-300);
}

double symmetry_residual(const Tensor& A) {
    if (A.rows != A.cols) throw std::invalid_argument("symmetry_residual: " + A.shape() + " is not square");
    return relative_difference(A, transpose(A));
}

bool all_finite(const double* v, size_t n) {
    uint64_t bad = 0;
    for (size_t k = 0; k < n; ++k) bad |= non_finite_bit(v[k]);
    return bad == 0;
}

void require_finite(const Tensor& A, const std::string& what) {
    if (all_finite(A.data.data(), A.size())) return;
    for (size_t k = 0; k < A.size(); ++k) {
        if (!std::isfinite(A[k])) {
            std::ostringstream msg;
            msg << what << ": tensor " << A.shape() << " has a non-finite entry " << A[k] << " at ["
                << k / std::max(A.cols, 1) << "," << k % std::max(A.cols, 1) << "]";
            throw std::invalid_argument(msg.str());
        }
    }
}

}  // namespace awd
