// gan_plots.h: the figures of the effective GAN model: particles over the target (1-D: a
// histogram over the mixture density; 2-D: points over the modes; MNIST: a grid of particle
// images) and the order parameters over time.
#pragma once

#include <string>
#include <vector>

#include "experiments/gan/gan.h"

namespace awd {

// Returns false (and writes nothing) when the target has no picture (d > 2 without images).
bool plot_particles(const std::string& png, const Tensor& Q, const GanTarget& target, const std::string& title);
void plot_trajectory(const std::string& png, const std::vector<GanRecord>& trajectory, const std::string& title);

}  // namespace awd
