// run_folder.cpp: checkpoints, .npy exports and loading a run back.
#include "experiments/common/run_folder.h"

#include <zlib.h>

#include <cmath>
#include <cstring>
#include <stdexcept>

#include "experiments/common/run_dir.h"
#include "nn/files.h"

namespace awd {

namespace {

const char kCheckpointMagic[] = "AWDCKPT1";

void put_u32(std::string& out, uint32_t v) {
    for (int k = 0; k < 4; ++k) out += (char)((v >> (8 * k)) & 0xff);
}

uint32_t get_u32(const std::string& in, size_t at) {
    uint32_t v = 0;
    for (int k = 3; k >= 0; --k) v = (v << 8) | (unsigned char)in[at + k];
    return v;
}

// The network a header describes, and how many bytes its parameters take. The count is checked
// for overflow and against `available` (what the file or folder really holds) before anything
// the size of the network is allocated.
MlpSpec spec_from_json(const nlohmann::json& j, const std::string& where, uint64_t available) {
    if (!j.is_object()) throw std::runtime_error(where + ": not a JSON object");
    for (const char* key : {"arch", "activation"})
        if (!j.contains(key) || !j[key].is_string())
            throw std::runtime_error(where + ": field \"" + key + "\" is missing or not a string");
    if (!j.contains("bias") || !j["bias"].is_boolean())
        throw std::runtime_error(where + ": field \"bias\" is missing or not true/false");
    if (j.contains("loss") && !j["loss"].is_string())
        throw std::runtime_error(where + ": field \"loss\" is not a string");
    MlpSpec spec;
    try {
        spec = MlpSpec::parse(j["arch"].get<std::string>(), parse_activation(j["activation"].get<std::string>()),
                              j["bias"].get<bool>(), parse_loss(j.value("loss", std::string("ce"))));
    } catch (const std::exception& e) {
        throw std::runtime_error(where + ": field \"arch\", \"activation\" or \"loss\": " + e.what());
    }
    uint64_t count = 0;
    for (int l = 0; l < spec.layers(); ++l) {
        uint64_t layer = 0;
        if (__builtin_mul_overflow((uint64_t)spec.n_out(l), (uint64_t)spec.n_in(l) + spec.bias, &layer) ||
            __builtin_add_overflow(count, layer, &count) || count > available / sizeof(double))
            throw std::runtime_error(where + ": field \"arch\" " + j["arch"].get<std::string>() +
                                     " needs more parameters than the " + std::to_string(available) +
                                     " bytes of data there are");
    }
    return spec;
}

Dataset read_dataset(const std::string& dir, const std::string& part, int classes) {
    Dataset d;
    d.classes = classes;
    d.X = read_npy_matrix(dir + "/X_" + part + ".npy");
    const std::vector<int64_t> y = read_npy_int64(dir + "/y_" + part + ".npy");
    if ((int)y.size() != d.X.rows)
        throw std::runtime_error(dir + "/y_" + part + ".npy holds " + std::to_string(y.size()) + " labels for " +
                                 std::to_string(d.X.rows) + " rows of X_" + part + ".npy");
    for (size_t n = 0; n < y.size(); ++n) {
        if (y[n] < 0 || y[n] >= classes)
            throw std::runtime_error(dir + "/y_" + part + ".npy: label " + std::to_string(y[n]) + " of sample " +
                                     std::to_string(n) + " is outside [0, " + std::to_string(classes) + ")");
        d.y.push_back((int)y[n]);
    }
    d.noisy.assign(y.size(), 0);
    const std::string noisy_path = dir + "/noisy_" + part + ".npy";
    if (file_exists(noisy_path)) {
        const std::vector<int64_t> noisy = read_npy_int64(noisy_path);
        if (noisy.size() != y.size()) throw std::runtime_error(noisy_path + " does not have one flag per sample");
        for (size_t n = 0; n < noisy.size(); ++n) d.noisy[n] = noisy[n] != 0;
    }
    return d;
}

}  // namespace

void write_checkpoint(const std::string& path, const Model& model, int epoch) {
    nlohmann::json header;
    header["epoch"] = epoch;
    header["n_params"] = model.size();
    for (const ParameterInfo& p : model.parameters())
        header["parameters"].push_back({{"name", p.name}, {"shape", {p.rows, p.cols}}});
    const std::string text = header.dump();
    std::string bytes(kCheckpointMagic, 8);
    put_u32(bytes, (uint32_t)text.size());
    bytes += text;
    bytes.append((const char*)model.theta().data.data(), model.size() * sizeof(double));
    put_u32(bytes, (uint32_t)crc32(0, (const Bytef*)bytes.data(), (uInt)bytes.size()));
    write_file_atomically(path, bytes);
}

int read_checkpoint(const std::string& path, Model& model) {
    const std::string bytes = read_file(path);
    if (bytes.size() < 16 || bytes.compare(0, 8, kCheckpointMagic) != 0)
        throw std::runtime_error(path + ": not an awd checkpoint (magic AWDCKPT1 missing)");
    const uint32_t stored = get_u32(bytes, bytes.size() - 4);
    if (stored != (uint32_t)crc32(0, (const Bytef*)bytes.data(), (uInt)(bytes.size() - 4)))
        throw std::runtime_error(path + ": checksum mismatch: the checkpoint is corrupt or truncated");
    const uint32_t header_length = get_u32(bytes, 8);
    if (12 + (size_t)header_length + 4 > bytes.size()) throw std::runtime_error(path + ": header longer than the file");
    nlohmann::json header;
    try {
        header = nlohmann::json::parse(bytes.substr(12, header_length));
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(path + ": unreadable header (" + e.what() + ")");
    }
    // the stored layout must be the model's, parameter by parameter
    const nlohmann::json stored_params = header.value("parameters", nlohmann::json::array());
    const auto& params = model.parameters();
    for (size_t k = 0; k < std::max(params.size(), stored_params.size()); ++k) {
        const std::string mine = k < params.size() ? params[k].name + " " + params[k].shape() : "nothing";
        std::string theirs = "nothing";
        if (k < stored_params.size()) {
            try {
                const auto& sp = stored_params[k];
                theirs = sp.at("name").get<std::string>() + " (" + std::to_string(sp.at("shape").at(0).get<int>()) +
                    " x " + std::to_string(sp.at("shape").at(1).get<int>()) + ")";
            } catch (const nlohmann::json::exception&) {
                theirs = "an unreadable entry";
            }
        }
        if (mine != theirs)
            throw std::runtime_error(path + ": field \"parameters\", entry " + std::to_string(k) +
                                     ": the checkpoint has " + theirs + ", the model " + model.describe() + " has " +
                                     mine);
    }
    const size_t have = (bytes.size() - 4 - 12 - header_length) / sizeof(double);
    if (have != model.size() || (bytes.size() - 16 - header_length) % sizeof(double))
        throw std::runtime_error(path + ": holds " + std::to_string(have) + " values, the model has " +
                                 std::to_string(model.size()) + " parameters");
    Tensor theta((int)model.size(), 1);
    std::memcpy(theta.data.data(), bytes.data() + 12 + header_length, model.size() * sizeof(double));
    for (const ParameterInfo& p : model.parameters())
        for (size_t k = 0; k < p.size(); ++k)
            if (!std::isfinite(theta[p.offset + k]))
                throw std::runtime_error(path + ": field \"theta\": parameter " + p.name + " entry " +
                                         std::to_string(k) + " is " + std::to_string(theta[p.offset + k]) +
                                         ", not a finite number");
    if (!header.contains("epoch") || !header["epoch"].is_number_unsigned() ||
        header["epoch"].get<uint64_t>() > (uint64_t)INT32_MAX)
        throw std::runtime_error(path + ": field \"epoch\" is missing or not an epoch count");
    model.theta() = theta;
    return header["epoch"].get<int>();
}

void write_weights_npy(const std::string& dir, const Mlp& net) {
    const MlpSpec& s = net.spec;
    for (int l = 0; l < s.layers(); ++l) {
        const double* W = net.W(l);
        write_npy(dir + "/W" + std::to_string(l) + ".npy",
                  Tensor(s.n_out(l), s.n_in(l), std::vector<double>(W, W + (size_t)s.n_out(l) * s.n_in(l))));
        if (s.bias)
            write_npy(dir + "/b" + std::to_string(l) + ".npy", std::vector<double>(net.b(l), net.b(l) + s.n_out(l)));
    }
}

void read_weights_npy(const std::string& dir, Mlp& net) {
    const MlpSpec& s = net.spec;
    for (int l = 0; l < s.layers(); ++l) {
        const std::string w_path = dir + "/W" + std::to_string(l) + ".npy";
        const Tensor W = read_npy_matrix(w_path);
        if (W.rows != s.n_out(l) || W.cols != s.n_in(l))
            throw std::runtime_error(w_path + ": shape " + W.shape() + ", but summary.json field \"arch\" (" +
                                     s.arch() + ") needs (" + std::to_string(s.n_out(l)) + " x " +
                                     std::to_string(s.n_in(l)) + ")");
        std::copy(W.data.begin(), W.data.end(), net.W(l));
        if (!s.bias) continue;
        const std::string b_path = dir + "/b" + std::to_string(l) + ".npy";
        const Tensor b = read_npy_matrix(b_path);
        if (b.rows != s.n_out(l) || b.cols != 1)
            throw std::runtime_error(b_path + ": shape " + b.shape() + ", but summary.json field \"arch\" (" +
                                     s.arch() + ") needs " + std::to_string(s.n_out(l)) + " values");
        std::copy(b.data.begin(), b.data.end(), net.b(l));
    }
}

void write_split_npy(const std::string& dir, const Split& split) {
    auto as_int64 = [](const auto& v) { return std::vector<int64_t>(v.begin(), v.end()); };
    write_npy(dir + "/X_train.npy", split.train.X);
    write_npy(dir + "/X_test.npy", split.test.X);
    write_npy(dir + "/y_train.npy", as_int64(split.train.y));
    write_npy(dir + "/y_test.npy", as_int64(split.test.y));
    write_npy(dir + "/noisy_train.npy", as_int64(split.train.noisy));
}

Run load_run(const std::string& dir) {
    const std::string summary_path = dir + "/summary.json";
    if (!file_exists(dir)) throw std::runtime_error("run folder " + dir + " does not exist");
    if (!file_exists(summary_path))
        throw std::runtime_error(dir + " is not a run folder: no summary.json (written by awd train)");
    uint64_t folder_bytes = 0;
    for (const ManifestEntry& f : verify_run_folder(dir).files) folder_bytes += f.bytes;
    Run run;
    run.dir = dir;
    try {
        run.summary = nlohmann::json::parse(read_file(summary_path));
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(summary_path + ": not valid JSON (" + e.what() + ")");
    }
    run.net = Mlp(spec_from_json(run.summary, summary_path, folder_bytes));
    read_weights_npy(dir, run.net);
    const int classes = run.net.spec.widths.back();
    run.train = read_dataset(dir, "train", classes);
    run.test = read_dataset(dir, "test", classes);
    for (const Dataset* d : {&run.train, &run.test})
        if (d->X.cols != run.net.spec.widths[0])
            throw std::runtime_error(dir + ": data has " + std::to_string(d->X.cols) +
                                     " inputs per sample, the network " + run.net.spec.arch() + " expects " +
                                     std::to_string(run.net.spec.widths[0]));
    return run;
}

}  // namespace awd
