// test_cli.cpp: end-to-end tests of the awd program as a user runs it: the reference training
// run, the Hessian of its layer 1 checked by an independent NumPy computation, and the errors
// a user meets (memory guard, missing run folder, divergence, bad flags).
#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "experiments/common/run_dir.h"
#include "nn/files.h"
#include "tests/run_command.h"

using namespace awd;

namespace {

const std::string kAwd = "build/awd";

// One trained reference run shared by the tests below (trained once, on first use).
const std::string& reference_run() {
    static const std::string dir = [] {
        const std::string d =
            (std::filesystem::temp_directory_path() / ("awd-cli-" + std::to_string(getpid()))).string();
        const Outcome o = run_command(kAwd + " train --no-bias --out " + d);
        REQUIRE_MESSAGE(o.status == 0, o.output);
        return d;
    }();
    return dir;
}

}  // namespace

TEST_CASE("awd train, the reference setup on the MNIST digits: converges below 1e-3") {
    const nlohmann::json s = nlohmann::json::parse(read_file(reference_run() + "/summary.json"));
    CHECK(s["status"] == "converged");
    CHECK(s["train_loss"].get<double>() < 1e-3);
    CHECK(s["arch"] == "784-30-30-10");
    CHECK(s["bias"] == false);
    CHECK(s["n_train"] == 4000);
    CHECK(s["test_accuracy"].get<double>() > 0.85);
    for (const char* f : {"W0.npy", "W1.npy", "W2.npy", "X_train.npy", "X_test.npy", "y_train.npy", "y_test.npy",
                          "log.csv", "checkpoint.bin"})
        CHECK(file_exists(reference_run() + "/" + f));
}

TEST_CASE("awd hessian --layer 1 on the reference run matches an independent NumPy computation to 1e-12") {
    const Outcome h = run_command(kAwd + " hessian --model " + reference_run() + " --layer 1 --eig");
    REQUIRE_MESSAGE(h.status == 0, h.output);
    const std::string dir = reference_run() + "/hessian-layer1";
    const nlohmann::json j = nlohmann::json::parse(read_file(dir + "/hessian.json"));
    CHECK(j["P"] == 900);
    CHECK(j["N"] == 4000);
    CHECK(j["hvp_residual"].get<double>() <= 1e-12);
    CHECK(j["top_eigenvalues"].size() == 10);
    const Tensor V = read_npy_matrix(dir + "/eigenvectors.npy");
    const Tensor gram = matmul(V, V, false, true);  // orthonormal rows
    double worst = 0;
    for (int i = 0; i < gram.rows; ++i)
        for (int k = 0; k < gram.cols; ++k) worst = std::max(worst, std::fabs(gram(i, k) - (i == k)));
    CHECK(worst <= 1e-13);
    const Outcome check = run_command("/usr/bin/python3 tests/check_hessian.py " + reference_run() + " " + dir);
    CHECK_MESSAGE(check.status == 0, check.output);
}

TEST_CASE("awd hessian: --top K by Lanczos agrees with the dense spectrum") {
    const Outcome lz = run_command(kAwd + " hessian --model " + reference_run() + " --layer 1 --top 5 --out " +
                                   reference_run() + "/lanczos");
    REQUIRE_MESSAGE(lz.status == 0, lz.output);
    const Outcome dense =
        run_command(kAwd + " hessian --model " + reference_run() + " --layer 1 --out " + reference_run() + "/dense");
    REQUIRE(dense.status == 0);
    const auto top = nlohmann::json::parse(read_file(reference_run() + "/lanczos/hessian.json"))["top_eigenvalues"];
    const auto exact = nlohmann::json::parse(read_file(reference_run() + "/dense/hessian.json"))["top_eigenvalues"];
    for (int i = 0; i < 5; ++i)
        CHECK(std::fabs(top[i].get<double>() - exact[i].get<double>()) <= 1e-9 * exact[0].get<double>());
}

TEST_CASE("awd hessian --top --density: the SLQ density integrates to 1") {
    const std::string out = reference_run() + "/density";
    const Outcome o =
        run_command(kAwd + " hessian --model " + reference_run() + " --layer 1 --top 3 --density --out " + out);
    REQUIRE_MESSAGE(o.status == 0, o.output);
    std::istringstream csv(read_file(out + "/density.csv"));
    std::string line;
    std::getline(csv, line);
    CHECK(line == "lambda,density");
    double integral = 0, previous_lambda = 0, previous_rho = 0;
    for (bool first = true; std::getline(csv, line); first = false) {
        const double lambda = std::stod(line.substr(0, line.find(','))),
                     rho = std::stod(line.substr(line.find(',') + 1));
        if (!first) integral += 0.5 * (rho + previous_rho) * (lambda - previous_lambda);
        previous_lambda = lambda, previous_rho = rho;
    }
    CHECK(integral == doctest::Approx(1.0).epsilon(0.02));
    CHECK(read_file(out + "/density.png").rfind("\x89PNG", 0) == 0);
}

TEST_CASE("the memory guard refuses an oversized Hessian, naming the size and the way out") {
    const Outcome o = run_command(kAwd + " hessian --model " + reference_run() + " --all --memory-limit 1");
    CHECK(o.status == 1);
    CHECK(o.output.find("the dense 24720 x 24720 Hessian needs 9.78 GB, over the memory limit of 1.00 GB") !=
          std::string::npos);
    CHECK(o.output.find("use --layer L") != std::string::npos);
    CHECK(o.output.find("--top K") != std::string::npos);
}

TEST_CASE("user errors: missing run folder, layer out of range, divergence, bad values") {
    Outcome o = run_command(kAwd + " hessian --model /nonexistent/run --layer 1");
    CHECK(o.status == 1);
    CHECK(o.output.find("run folder /nonexistent/run does not exist") != std::string::npos);
    o = run_command(kAwd + " hessian --model " + reference_run() + " --layer 3");
    CHECK(o.output.find("layer 3 is out of range: 784-30-30-10 has layers 0..2") != std::string::npos);
    o = run_command(
        kAwd + " train --data synthetic --arch 10-8-3 --loss mse --train-per-class 20 --lr 1e3 --epochs 50 --out " +
        reference_run() + "/diverged");
    CHECK(o.status == 1);
    CHECK(o.output.find("training diverged at epoch") != std::string::npos);
    CHECK(file_exists(reference_run() + "/diverged/checkpoint.bin"));
    o = run_command(kAwd + " train --activation swish --out " + reference_run() + "/bad");
    CHECK(o.status == 1);
    CHECK(o.output.find("unknown activation 'swish'") != std::string::npos);
}

TEST_CASE("awd duality on the reference run: the table's quantities, the files, the figures") {
    const Outcome o = run_command(kAwd + " duality --model " + reference_run() + " --layer 1");
    REQUIRE_MESSAGE(o.status == 0, o.output);
    const std::string dir = reference_run() + "/duality-layer1";
    const nlohmann::json j = nlohmann::json::parse(read_file(dir + "/duality.json"));
    for (const char* key :
         {"layer", "n_pairs", "n_skipped", "gap", "gap_paired", "identity_estimate", "identity_residual",
          "curvature_estimate", "taylor_estimate", "verify_double_u", "verify_long_double_u", "sum_sigma_w",
          "sum_sigma_g", "weight_norm", "top_eigenvalue", "seconds"})
        CHECK_MESSAGE(j.contains(key), key);
    CHECK(j["n_pairs"] == 1000);
    CHECK(j["identity_residual"].get<double>() <= 1e-12);
    CHECK(j["verify_double_u"].get<double>() <= 8);
    CHECK(j["verify_long_double_u"].get<double>() <= 8);
    CHECK(j["verify_long_double_u"].get<double>() * 256 <= j["verify_double_u"].get<double>());
    CHECK(o.output.find("identity estimate") != std::string::npos);
    const std::string csv = read_file(dir + "/directions.csv");
    CHECK(csv.rfind("direction,lambda,sigma_w,sigma_g,c,mu_w,mu_g,contribution\n", 0) == 0);
    CHECK(std::count(csv.begin(), csv.end(), '\n') == 901);
    for (const char* png : {"/contributions.png", "/sigma.png"}) CHECK(read_file(dir + png).rfind("\x89PNG", 0) == 0);
}

TEST_CASE("awd duality: bad layer, data that does not fit the model") {
    Outcome o = run_command(kAwd + " duality --model " + reference_run() + " --layer 5");
    CHECK(o.status == 1);
    CHECK(o.output.find("layer 5 is out of range") != std::string::npos);
    const std::string broken = reference_run() + "/broken";
    std::filesystem::create_directories(broken);
    for (const char* f :
         {"summary.json", "W0.npy", "W1.npy", "W2.npy", "y_train.npy", "y_test.npy", "X_test.npy", "noisy_train.npy"})
        std::filesystem::copy_file(reference_run() + "/" + f, broken + "/" + f,
                                   std::filesystem::copy_options::overwrite_existing);
    write_npy(broken + "/X_train.npy", Tensor(4000, 196, 0.5));  // 14x14 images for a 784-input net
    o = run_command(kAwd + " duality --model " + broken + " --layer 1");
    CHECK(o.status == 1);
    CHECK(o.output.find("no manifest.json") != std::string::npos);
    write_manifest(broken, "mixed-on-purpose");  // the files now belong together, but do not fit
    o = run_command(kAwd + " duality --model " + broken + " --layer 1");
    CHECK(o.status == 1);
    CHECK(o.output.find("data has 196 inputs per sample, the network 784-30-30-10 expects 784") != std::string::npos);
}

TEST_CASE("awd sweep: runs in parallel, writes sweep.csv and figures, and resumes without redoing runs") {
    const std::string out = reference_run() + "/sweep";
    const std::string command = kAwd + " sweep --param width --values 8,12 --repeats 1 --jobs 2 --out " + out +
        " --train-args \"--train-per-class 20 --test 50 --epochs 4\"";
    Outcome o = run_command(command);
    REQUIRE_MESSAGE(o.status == 0, o.output);
    const std::string csv = read_file(out + "/sweep.csv");
    CHECK(std::count(csv.begin(), csv.end(), '\n') == 3);
    CHECK(csv.find("\nwidth,8,0,max_epochs,4,") != std::string::npos);
    CHECK(csv.find("\nwidth,12,0,max_epochs,4,") != std::string::npos);
    const nlohmann::json run = nlohmann::json::parse(read_file(out + "/width=12/seed0/summary.json"));
    CHECK(run["arch"] == "784-12-12-10");
    CHECK(run["config"]["train-per-class"] == 20);  // --train-args reached every run
    for (const char* png : {"/gap_vs_estimates.png", "/determinants.png", "/sigma_g_spectrum.png"})
        CHECK(read_file(out + png).rfind("\x89PNG", 0) == 0);
    CHECK(nlohmann::json::parse(read_file(out + "/sweep_summary.json"))["trends"].contains("sum_sigma_g"));
    o = run_command(command);  // again: both runs are read back
    CHECK(o.status == 0);
    CHECK(o.output.find("width=8 seed 0: reused") != std::string::npos);
    CHECK(o.output.find("width=12 seed 0: reused") != std::string::npos);
    CHECK(read_file(out + "/sweep.csv") == csv);
}

TEST_CASE("awd sweep: unknown parameters and values that are not numbers are refused") {
    Outcome o = run_command(kAwd + " sweep --param momentum --out " + reference_run() + "/bad-sweep");
    CHECK(o.status == 1);
    CHECK(o.output.find("unknown sweep parameter 'momentum'") != std::string::npos);
    o = run_command(kAwd + " sweep --param lr --values 0.1,fast --out " + reference_run() + "/bad-sweep");
    CHECK(o.status == 2);
    CHECK(o.output.find("--values: '0.1,fast': 'fast' is not a number") != std::string::npos);
}

TEST_CASE("nn/README.md's own-model example is the file make builds, and it fits its data") {
    const std::string source = read_file("tests/example/own_model.cpp"), readme = read_file("nn/README.md");
    const std::string from = source.substr(source.find("// y = a sin(b x)"));
    CHECK(readme.find(from) != std::string::npos);  // nn/README.md quotes the file from the model on
    const Outcome o = run_command("build/example_own_model");
    CHECK(o.status == 0);
    // the data are 2 sin(1.5 x): training must find a = 2, b = 1.5
    CHECK(o.output.find("a = 2.000000, b = 1.500000") != std::string::npos);
    CHECK(o.output.find("replayed gradient == eager: yes") != std::string::npos);
}

TEST_CASE(
    "a dead network: the Hessian says so instead of drawing an empty figure, duality refuses naming the dead layer") {
    const std::string dir = "/tmp/awd-test-dead-" + std::to_string(getpid());
    std::filesystem::remove_all(dir);
    make_directories(dir + "/zeros");
    const int shapes[3][2] = {{8, 10}, {8, 8}, {3, 8}};  // every weight 0: no unit's output depends on anything
    for (int l = 0; l < 3; ++l)
        write_npy(dir + "/zeros/W" + std::to_string(l) + ".npy", Tensor(shapes[l][0], shapes[l][1]));
    Outcome o = run_command(kAwd +
                            " train --data synthetic --arch 10-8-8-3 --no-bias --train-per-class 20 --test 30 --epochs "
                            "2 --stop-loss 0 --init-from " +
                            dir + "/zeros --out " + dir + "/run");
    REQUIRE(o.status == 0);
    o = run_command(kAwd + " hessian --model " + dir + "/run --layer 1 --eig --out " + dir + "/h");
    CHECK(o.status == 0);
    CHECK(o.output.find("every eigenvalue is exactly 0 (a dead or constant network") != std::string::npos);
    CHECK(!file_exists(dir + "/h/spectrum.png"));
    CHECK(file_exists(dir + "/h/H.npy"));
    o = run_command(kAwd + " duality --model " + dir + "/run --layer 1");
    CHECK(o.status == 1);
    CHECK(o.output.find("zero activity at layer 1 (a dead layer)") != std::string::npos);
    std::filesystem::remove_all(dir);
}
