// loss.cpp: batch losses and their gradients with respect to the logits.
#include "nn/loss.h"
#include "nn/names.h"

#include <stdexcept>
#include <vector>

namespace awd {

Loss parse_loss(const std::string& name) {
    const Loss all[] = {Loss::CrossEntropy, Loss::MeanSquaredError};
    return parse_name(name, all, loss_name, "loss");
}

const char* loss_name(Loss loss) { return loss == Loss::CrossEntropy ? "ce" : "mse"; }

double loss_forward_backward(Loss loss, const Tensor& logits, const int* labels, Tensor* dlogits) {
    const int batch = logits.rows, classes = logits.cols;
    if (dlogits && !dlogits->same_shape(logits)) *dlogits = Tensor(batch, classes);
    double total = 0.0;
    for (int n = 0; n < batch; ++n) {
        const double* f = &logits.data[(size_t)n * classes];
        total += sample_loss(loss, f, classes, labels[n]);
        if (!dlogits) continue;
        double* d = &dlogits->data[(size_t)n * classes];
        if (loss == Loss::CrossEntropy) {  // d/df_c = (softmax_c - [c = label]) / B
            double m = f[0], s = 0.0;
            for (int c = 1; c < classes; ++c) m = std::max(m, f[c]);
            for (int c = 0; c < classes; ++c) s += (d[c] = std::exp(f[c] - m));
            for (int c = 0; c < classes; ++c) d[c] = (d[c] / s - (c == labels[n])) / batch;
        } else {  // d/df_c = 2 (f_c - t_c) / (B C)
            for (int c = 0; c < classes; ++c) d[c] = 2.0 * (f[c] - (c == labels[n])) / ((double)batch * classes);
        }
    }
    return total / batch;
}

}  // namespace awd
