// layers.cpp: dense, activation and dropout kernels of the training fast path.
#include "nn/layers.h"

#include <cblas.h>

#include <cstring>
#include <stdexcept>

namespace awd {

// ---- dense layer -------------------------------------------------------------------------

void dense_forward(const Tensor& in, const double* W, const double* b, int n_out, Tensor& out) {
    const int batch = in.rows, n_in = in.cols;
    if (out.rows != batch || out.cols != n_out) out = Tensor(batch, n_out);
    if (b) {  // out = b broadcast over rows, then out += in W^T
        for (int n = 0; n < batch; ++n) std::memcpy(&out.data[(size_t)n * n_out], b, sizeof(double) * n_out);
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, n_out, n_in, 1.0, in.data.data(), n_in, W, n_in,
                b ? 1.0 : 0.0, out.data.data(), n_out);
}

void dense_backward(const Tensor& in, const double* W, const Tensor& dout, double* dW, double* db, Tensor* din) {
    const int batch = in.rows, n_in = in.cols, n_out = dout.cols;
    // dW (n_out, n_in) = dout^T in
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n_out, n_in, batch, 1.0, dout.data.data(), n_out,
                in.data.data(), n_in, 0.0, dW, n_in);
    if (db) {
        std::fill(db, db + n_out, 0.0);
        for (int n = 0; n < batch; ++n)
            for (int o = 0; o < n_out; ++o) db[o] += dout.data[(size_t)n * n_out + o];
    }
    if (din) {  // din (B, n_in) = dout W
        if (din->rows != batch || din->cols != n_in) *din = Tensor(batch, n_in);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, n_in, n_out, 1.0, dout.data.data(), n_out, W,
                    n_in, 0.0, din->data.data(), n_in);
    }
}

// ---- activation --------------------------------------------------------------------------

void activation_forward(Activation act, const Tensor& z, Tensor& a) {
    if (!a.same_shape(z)) a = Tensor(z.rows, z.cols);
    if (act == Activation::Relu) {  // the common case, kept branch-free for the vectoriser
        for (size_t k = 0; k < z.size(); ++k) a[k] = z[k] > 0 ? z[k] : 0.0;
        return;
    }
    for (size_t k = 0; k < z.size(); ++k) a[k] = activate(act, z[k]);
}

void activation_backward(Activation act, const Tensor& z, const Tensor& a, const Tensor& da, Tensor& dz) {
    if (!dz.same_shape(z)) dz = Tensor(z.rows, z.cols);
    if (act == Activation::Relu) {
        for (size_t k = 0; k < z.size(); ++k) dz[k] = z[k] > 0 ? da[k] : 0.0;
        return;
    }
    for (size_t k = 0; k < z.size(); ++k) dz[k] = da[k] * d1(act, z[k], a[k]);
}

// ---- inverted dropout ----------------------------------------------------------------------

void dropout_forward(Tensor& a, double p, Rng& rng, Tensor& mask) {
    if (!(p >= 0.0 && p < 1.0)) throw std::invalid_argument("dropout: probability " + std::to_string(p) + " is not in [0, 1)");
    if (!mask.same_shape(a)) mask = Tensor(a.rows, a.cols);
    const double keep_scale = 1.0 / (1.0 - p);
    for (size_t k = 0; k < a.size(); ++k) {
        mask[k] = rng.uniform() < p ? 0.0 : keep_scale;
        a[k] *= mask[k];
    }
}

void dropout_backward(const Tensor& mask, Tensor& da) {
    for (size_t k = 0; k < da.size(); ++k) da[k] *= mask[k];
}

}  // namespace awd
