// layers.h: the fast path of training, as plain functions, each forward beside its backward.
//
// A batch is a Tensor with one sample per row. Weights are views into the flat theta:
// W is (n_out, n_in) row-major, b has n_out entries (or is null). Products go through BLAS.
// The autodiff graph in mlp.h computes the same things generally; tests hold them equal.
#pragma once

#include <cmath>
#include <vector>

#include "autodiff/tensor.h"
#include "nn/activation.h"
#include "nn/random.h"

namespace awd {

// ---- dense layer -------------------------------------------------------------------------
// out (B, n_out) = in (B, n_in) W^T + b
void dense_forward(const Tensor& in, const double* W, const double* b, int n_out, Tensor& out);
// From dout (B, n_out): dW (n_out, n_in) = dout^T in, db = column sums of dout, and, when din
// is given, din (B, n_in) = dout W. dW and db are overwritten.
void dense_backward(const Tensor& in, const double* W, const Tensor& dout, double* dW, double* db, Tensor* din);

// ---- activation --------------------------------------------------------------------------
// a = phi(z), elementwise
void activation_forward(Activation act, const Tensor& z, Tensor& a);
// dz = da * phi'(z), elementwise (a = phi(z) is passed because tanh' and sigmoid' use it)
void activation_backward(Activation act, const Tensor& z, const Tensor& a, const Tensor& da, Tensor& dz);

// ---- inverted dropout ----------------------------------------------------------------------
// Each entry of a is kept with probability 1 - p and scaled by 1 / (1 - p), else zeroed;
// mask remembers the factor (0 or 1/(1-p)) for the backward pass. Training only.
void dropout_forward(Tensor& a, double p, Rng& rng, Tensor& mask);
// da *= mask
void dropout_backward(const Tensor& mask, Tensor& da);

}  // namespace awd
