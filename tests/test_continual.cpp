// test_continual.cpp: continual learning (issue 14): reservoir uniformity, the rotation of a point
// image, GEM's QP (KKT, brute force, constraints), EWC's Fisher against a closed form, MER/ER
// reducing to online SGD, resume, and the command's flags.
#include <doctest/doctest.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "autodiff/autodiff.h"
#include "experiments/mer/continual.h"
#include "nn/files.h"
#include "tests/run_command.h"

using namespace awd;

namespace {

Tensor random_inputs(int n, int d, Rng& rng) {
    Tensor X(n, d);
    for (double& v : X.data) v = rng.normal();
    return X;
}

const TaskStream& small_stream(StreamKind kind) {
    static std::map<StreamKind, std::unique_ptr<TaskStream>> streams;
    auto& s = streams[kind];
    if (!s) {
        StreamConfig c;
        c.kind = kind, c.tasks = 3, c.per_task = 60, c.seed = 5, c.test = 200, c.pool_per_class = 100;
        s = std::make_unique<TaskStream>(c);
    }
    return *s;
}

ContinualConfig small_config(Method m) {
    ContinualConfig c;
    c.method = m, c.hidden = 60, c.ewc_lambda = 1.0, c.memories = 50, c.replay = 4, c.batches = 2, c.lr = 0.05,
    c.beta = 0.3, c.gamma = 0.7;
    c.gem_per_task = 8, c.fisher_examples = 20, c.curve_every = 30, c.seed = 3;
    return c;
}

ContinualState run_all(const ContinualConfig& c, const TaskStream& stream) {
    ContinualState state = initial_state(c, stream);
    run_stream(c, stream, state, [](const ContinualState&) { return true; });
    return state;
}

}  // namespace

TEST_CASE("continual: reservoir sampling keeps every example with probability size/N (chi-square)") {
    const int N = 40, M = 8, trials = 20000;
    std::vector<double> kept(N, 0.0);
    Rng rng(99);
    std::vector<double> x(1, 0.0);
    for (int trial = 0; trial < trials; ++trial) {
        Reservoir r;
        r.capacity = M, r.inputs = 1;
        for (int i = 0; i < N; ++i) {
            const int slot = r.offer(rng);
            if (slot >= 0) r.store(slot, 0, i, 0, x.data());
        }
        REQUIRE(r.size() == M);
        CHECK(r.age == (uint64_t)N);
        for (int i : r.index) kept[i] += 1;
    }
    const double expected = (double)trials * M / N;
    double chi2 = 0;
    for (double k : kept) chi2 += (k - expected) * (k - expected) / expected;
    // 39 degrees of freedom (and the fixed total only lowers chi2): P(chi2 > 80) < 1e-4
    CHECK(chi2 < 80.0);
    // a broken reservoir (keeping the first M, or replacing with p drawn in [0, M)) fails this
    CHECK(kept[0] / trials == doctest::Approx((double)M / N).epsilon(0.1));
    CHECK(kept[N - 1] / trials == doctest::Approx((double)M / N).epsilon(0.1));
}

TEST_CASE("continual: rotating a point image moves it to the analytic position") {
    const int side = 28;
    const double c = 13.5;
    std::vector<double> in(side * side, 0.0), out(side * side);
    const int r0 = 4, c0 = 20;
    in[r0 * side + c0] = 1.0;
    rotate_image(in.data(), side, 0.0, out.data());
    CHECK(out == in);
    // 90 degrees counter-clockwise: (dx, dy) = (6.5, 9.5), y up, goes to (-9.5, 6.5): row 7, column 4
    rotate_image(in.data(), side, 90.0, out.data());
    CHECK(std::abs(out[7 * side + 4] - 1.0) < 1e-12);
    double total = 0;
    for (double v : out) total += std::abs(v);
    CHECK(std::abs(total - 1.0) < 1e-12);
    for (double degrees : {17.0, 33.0, 141.0}) {  // general angles: the centroid of the interpolated spot
        rotate_image(in.data(), side, degrees, out.data());
        const double a = degrees * M_PI / 180, dx = c0 - c, dy = c - r0;
        const double col = c + dx * std::cos(a) - dy * std::sin(a), row = c - (dx * std::sin(a) + dy * std::cos(a));
        double mass = 0, mr = 0, mc = 0;
        for (int r = 0; r < side; ++r)
            for (int q = 0; q < side; ++q)
                mass += out[r * side + q], mr += r * out[r * side + q], mc += q * out[r * side + q];
        CAPTURE(degrees);
        CHECK(std::hypot(mr / mass - row, mc / mass - col) < 0.25);
        const int best = (int)(std::max_element(out.begin(), out.end()) - out.begin());
        CHECK(std::hypot(best / side - row, best % side - col) < 1.0);
    }
}

TEST_CASE("continual: the non-negative QP meets its KKT conditions and matches brute force") {
    Rng rng(7);
    for (int n : {1, 2, 3, 5, 8, 20}) {
        for (int trial = 0; trial < 20; ++trial) {
            const Tensor A = random_inputs(n, n + 3, rng);
            Tensor P = matmul(A, A, false, true);
            std::vector<double> c(n);
            for (double& v : c) v = rng.normal();
            const std::vector<double> u = solve_nonnegative_qp(P, c);
            CAPTURE(n);
            CHECK(nonnegative_qp_kkt_violation(P, c, u) < 1e-10);
            if (n > 8) continue;
            // brute force: every support set, solve the equalities, keep the best feasible point
            auto objective = [&](const std::vector<double>& v) {
                double f = 0;
                for (int i = 0; i < n; ++i) {
                    f += c[i] * v[i];
                    for (int j = 0; j < n; ++j) f += 0.5 * v[i] * P(i, j) * v[j];
                }
                return f;
            };
            double best = 0;  // u = 0 is feasible
            for (int mask = 1; mask < (1 << n); ++mask) {
                std::vector<int> F;
                for (int i = 0; i < n; ++i)
                    if (mask >> i & 1) F.push_back(i);
                Tensor Pf((int)F.size(), (int)F.size());
                Tensor rhs((int)F.size(), 1);
                for (size_t i = 0; i < F.size(); ++i) {
                    rhs[i] = -c[F[i]];
                    for (size_t j = 0; j < F.size(); ++j) Pf(i, j) = P(F[i], F[j]);
                }
                // Gaussian elimination (F is at most 8)
                const int m = (int)F.size();
                for (int k = 0; k < m; ++k)
                    for (int i = k + 1; i < m; ++i) {
                        const double f = Pf(i, k) / Pf(k, k);
                        for (int j = k; j < m; ++j) Pf(i, j) -= f * Pf(k, j);
                        rhs[i] -= f * rhs[k];
                    }
                std::vector<double> v(n, 0.0);
                bool feasible = true;
                for (int i = m - 1; i >= 0; --i) {
                    double s = rhs[i];
                    for (int j = i + 1; j < m; ++j) s -= Pf(i, j) * v[F[j]];
                    v[F[i]] = s / Pf(i, i);
                    feasible = feasible && v[F[i]] >= 0;
                }
                if (feasible) best = std::min(best, objective(v));
            }
            CHECK(objective(u) <= best + 1e-10 * (1 + std::abs(best)));
        }
    }
}

TEST_CASE("continual: GEM's projected gradient satisfies the memory constraints") {
    Rng rng(8);
    for (int n : {1, 4, 19}) {
        const Tensor G = random_inputs(n, 300, rng);
        std::vector<double> g(300);
        for (double& v : g) v = rng.normal();
        for (double margin : {0.0, 0.5}) {
            const std::vector<double> projected = gem_project(G, g, margin, 0.0);
            double scale = 0;
            for (double v : projected) scale = std::max(scale, std::abs(v));
            for (int k = 0; k < n; ++k) {
                double dot = 0;
                for (int p = 0; p < 300; ++p) dot += G(k, p) * projected[p];
                CHECK(dot >= -1e-10 * scale * 300);
            }
            if (margin == 0.0 && n == 1) {  // one constraint: the closed form g - min(0, <g, G>) G / |G|^2
                double gG = 0, GG = 0;
                for (int p = 0; p < 300; ++p) gG += g[p] * G(0, p), GG += G(0, p) * G(0, p);
                for (int p = 0; p < 300; ++p)
                    CHECK(std::abs(projected[p] - (g[p] - std::min(0.0, gG) / GG * G(0, p))) < 1e-12);
            }
        }
    }
}

TEST_CASE("continual: EWC's Fisher is the mean squared per-example gradient (closed form, softmax regression)") {
    // One Dense layer 6 -> 3: for one example, d CE / d z = p - e_y with p = softmax(W x + b), so
    // d CE / d W = (p - e_y) x^T and d CE / d b = p - e_y; theta = [W (3 x 6, row-major), b].
    const int d = 6, C = 3, N = 9;
    Model net = make_mlp(MlpSpec::parse("6-3", Activation::Relu, true));
    Rng rng(21);
    for (double& v : net.theta().data) v = 0.5 * rng.normal();
    const Tensor X = random_inputs(N, d, rng);
    std::vector<int> labels;
    for (int n = 0; n < N; ++n) labels.push_back((int)rng.index(C));
    const std::vector<double> F = ewc_fisher(net, X, labels);
    REQUIRE(F.size() == (size_t)(C * d + C));
    std::vector<double> reference(F.size(), 0.0);
    const double* W = net.theta().data.data();
    const double* b = W + C * d;
    for (int n = 0; n < N; ++n) {
        const double* x = &X.data[(size_t)n * d];
        double z[C], total = 0;
        for (int c = 0; c < C; ++c) {
            z[c] = b[c];
            for (int i = 0; i < d; ++i) z[c] += W[c * d + i] * x[i];
            total += std::exp(z[c]);
        }
        for (int c = 0; c < C; ++c) {
            const double r = std::exp(z[c]) / total - (c == labels[n] ? 1.0 : 0.0);
            for (int i = 0; i < d; ++i) reference[c * d + i] += r * x[i] * r * x[i] / N;
            reference[C * d + c] += r * r / N;
        }
    }
    for (size_t k = 0; k < F.size(); ++k) {
        CAPTURE(k);
        CHECK(std::abs(F[k] - reference[k]) < 1e-13 * (1 + reference[k]));
    }
}

TEST_CASE("continual: EWC's step is the cross-entropy gradient plus lambda (F theta - F theta*), then SGD") {
    const TaskStream& stream = small_stream(StreamKind::Rotations);
    const ContinualConfig c = small_config(Method::Ewc);
    ContinualState state = initial_state(c, stream);
    Model& net = state.nets[0];
    const size_t P = net.size();
    Rng rng(31);
    for (size_t k = 0; k < P; ++k) state.ewc_F.push_back(rng.uniform()), state.ewc_Ftheta.push_back(rng.normal());
    std::vector<double> x(stream.inputs());
    const int y = stream.example(1, 0, x.data());
    Model reference = net;  // the penalty's gradient in closed form beside the graph's cross-entropy gradient
    reference.backward(cross_entropy(reference.forward(constant(Tensor(1, stream.inputs(), x))), {y}));
    const std::vector<double> before = net.theta().data.to_vector();
    observe(c, stream, state, 1, x.data(), y, 0, rng);
    double worst = 0;
    for (size_t k = 0; k < P; ++k) {
        const double g = reference.gradient()[k] + c.ewc_lambda * (state.ewc_F[k] * before[k] - state.ewc_Ftheta[k]);
        worst = std::max(worst, std::abs(net.theta()[k] - (before[k] - c.lr * g)));
    }
    CHECK(worst < 1e-14);
}

TEST_CASE("continual: MER with s=1, k=1, beta=gamma=1 and ER with k=1 are online SGD, bit for bit") {
    const TaskStream& stream = small_stream(StreamKind::Rotations);
    ContinualConfig online = small_config(Method::Online);
    ContinualConfig mer = small_config(Method::Mer);
    mer.batches = 1, mer.replay = 0, mer.beta = 1.0, mer.gamma = 1.0;
    ContinualConfig er = small_config(Method::Er);
    er.replay = 0;
    const ContinualState a = run_all(online, stream), b = run_all(mer, stream), c = run_all(er, stream);
    CHECK(a.nets[0].theta().data == b.nets[0].theta().data);
    CHECK(a.nets[0].theta().data == c.nets[0].theta().data);
    CHECK(a.R == b.R);
    CHECK(b.memory.size() == 50);  // MER and ER still fill the reservoir
    CHECK(b.memory.age == 180u);
    // and real MER (s = 2, k = 5, beta 0.3, gamma 0.7) does something else
    CHECK(!(run_all(small_config(Method::Mer), stream).nets[0].theta().data == a.nets[0].theta().data));
}

TEST_CASE("continual: every method runs; a stream resumed from a checkpoint ends in the same bytes") {
    const TaskStream& stream = small_stream(StreamKind::Permutations);
    for (Method m : {Method::Online, Method::Er, Method::Mer, Method::Ewc, Method::Gem, Method::Independent}) {
        const std::string name = method_name(m);
        CAPTURE(name);
        const ContinualConfig c = small_config(m);
        const ContinualState whole = run_all(c, stream);
        REQUIRE(whole.R.size() == 3u);
        CHECK(whole.curve.size() == 6u);
        const Summary s = summarize(whole.R);
        CHECK(s.RA > 0.15);  // better than chance (0.1) after 60 examples per task
        std::string checkpoint;
        ContinualState first = initial_state(c, stream);
        run_stream(c, stream, first, [&](const ContinualState& st) {
            checkpoint = serialize_state(st);
            return st.tasks_done < 1;
        });
        ContinualState resumed = deserialize_state(checkpoint, c, stream);
        CHECK(resumed.tasks_done == 1);
        run_stream(c, stream, resumed, [](const ContinualState&) { return true; });
        CHECK(serialize_state(resumed) == serialize_state(whole));
    }
}

TEST_CASE("continual: summaries of R") {
    const std::vector<std::vector<double>> R = {{0.9, 0.1}, {0.5, 0.8}};
    const Summary s = summarize(R);
    CHECK(s.RA == doctest::Approx(0.65));
    CHECK(s.LA == doctest::Approx(0.85));
    CHECK(s.BTI == doctest::Approx(-0.2));
}

TEST_CASE("awd continual: an interrupted run resumes to the same bytes; bad flags exit 2 naming the flag") {
    const std::string base =
        (std::filesystem::temp_directory_path() / ("awd-continual-" + std::to_string(getpid()))).string();
    const std::string
        common =
            " continual --stream rotations --method mer --tasks 3 --per-task 40 --memories 30 --replay 3 --batches 2"
            " --beta 0.5 --gamma 0.9 --hidden 20 --pool-per-class 100 --test 200 --curve-every 20 --seed 4",
        args = common + " --lr 0.05";
    const Outcome whole = run_command("build/awd" + args + " --out " + base + "-whole");
    REQUIRE_MESSAGE(whole.status == 0, whole.output);
    const Outcome stopped = run_command("build/awd" + args + " --stop-after 2 --out " + base + "-resumed");
    REQUIRE_MESSAGE(stopped.status == 0, stopped.output);
    CHECK(file_exists(base + "-resumed.partial/checkpoint.bin"));
    CHECK(!file_exists(base + "-resumed"));
    const Outcome resumed = run_command("build/awd" + args + " --out " + base + "-resumed");
    REQUIRE_MESSAGE(resumed.status == 0, resumed.output);
    CHECK(resumed.output.find("resuming") != std::string::npos);
    for (const char* f : {"R.csv", "curve.csv", "continual.png"}) {
        CAPTURE(f);
        CHECK(read_file(base + "-whole/" + f) == read_file(base + "-resumed/" + f));
    }
    auto without_provenance = [](const std::string& dir) {  // it records each command line (--out, --stop-after)
        nlohmann::json s = nlohmann::json::parse(read_file(dir + "/summary.json"));
        s.erase("provenance");
        return s.dump();
    };
    CHECK(without_provenance(base + "-whole") == without_provenance(base + "-resumed"));
    const nlohmann::json s = nlohmann::json::parse(read_file(base + "-whole/summary.json"));
    CHECK(s["BTI"].get<double>() == doctest::Approx(s["RA"].get<double>() - s["LA"].get<double>()));
    CHECK(s["settings"]["beta"] == 0.5);
    const Outcome other = run_command("build/awd" + common + " --lr 0.01 --stop-after 1 --out " + base + "-whole-x");
    CHECK(other.status == 0);
    const Outcome mismatch = run_command("build/awd" + common + " --lr 0.02 --out " + base + "-whole-x");
    CHECK(mismatch.status == 1);
    CHECK(mismatch.output.find("other settings") != std::string::npos);
    for (const std::string d : {"-whole", "-resumed", "-whole-x.partial"}) std::filesystem::remove_all(base + d);

    const std::pair<const char*, const char*> bad[] = {{"--memories -1", "--memories"},
                                                       {"--beta 0", "--beta"},
                                                       {"--beta 1.5", "--beta"},
                                                       {"--beta nan", "--beta"},
                                                       {"--lr inf", "--lr"},
                                                       {"--stream spirals", "--stream"},
                                                       {"--method sgd", "--method"},
                                                       {"--sampling without --memories 10 --replay 11", "--replay"}};
    for (const auto& [flags, name] : bad) {
        const Outcome o = run_command("build/awd continual " + std::string(flags) + " --out " + base + "-bad");
        CAPTURE(flags);
        CHECK(o.status == 2);
        CHECK(o.output.find(name) != std::string::npos);
    }
}
