// loss.cpp: the batch losses as graphs.
#include "nn/loss.h"
#include "autodiff/names.h"

#include <stdexcept>

namespace awd {

Loss parse_loss(const std::string& name) {
    const Loss all[] = {Loss::CrossEntropy, Loss::MeanSquaredError};
    return parse_name(name, all, loss_name, "loss");
}

const char* loss_name(Loss loss) { return loss == Loss::CrossEntropy ? "ce" : "mse"; }

Var loss_graph(Loss loss, const Var& output, const std::vector<int>& labels) {
    if (loss == Loss::CrossEntropy) return cross_entropy(output, labels);
    if ((int)labels.size() != output.rows())
        throw std::invalid_argument("mse: " + std::to_string(labels.size()) + " labels for " + std::to_string(output.rows()) + " samples");
    Tensor one_hot(output.rows(), output.cols());
    for (int n = 0; n < output.rows(); ++n) {
        if (labels[n] < 0 || labels[n] >= output.cols())
            throw std::invalid_argument("mse: label " + std::to_string(labels[n]) + " of sample " + std::to_string(n) + " is outside [0, " +
                                        std::to_string(output.cols()) + ")");
        one_hot(n, labels[n]) = 1.0;
    }
    return mse(output, constant(std::move(one_hot)));
}

}  // namespace awd
