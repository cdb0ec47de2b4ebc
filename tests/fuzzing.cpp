// fuzzing.cpp: the mutations, the loaders under test, and sorting their outcomes.
#include "tests/fuzzing.h"

#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <new>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>

#include "experiments/common/run_dir.h"
#include "experiments/common/run_folder.h"
#include "nn/data.h"
#include "nn/files.h"
#include "nn/idx.h"

namespace awd::fuzz {

namespace {

void write_plain(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::string gzip_bytes(const std::string& plain, const std::string& scratch) {
    const std::string path = scratch + "/packing.gz";
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, plain.data(), (unsigned)plain.size());
    gzclose(f);
    return read_file(path);
}

// What zlib itself decompresses from a file (gzip or plain): the reference for accepted .gz files.
std::string gunzip_file(const std::string& path) {
    gzFile f = gzopen(path.c_str(), "rb");
    std::string out;
    char block[4096];
    for (int n; f && (n = gzread(f, block, sizeof block)) > 0;) out.append(block, (size_t)n);
    if (f) gzclose(f);
    return out;
}

void put_u32_le(std::string& bytes, size_t at, uint32_t v) {
    for (int k = 0; k < 4; ++k) bytes[at + k] = (char)((v >> (8 * k)) & 0xff);
}

class Mutator {
public:
    explicit Mutator(uint64_t seed) : rng_(seed) {}

    std::string mutate(std::string bytes, size_t header_end) {
        const int rounds = 1 + (int)below(4);
        for (int r = 0; r < rounds; ++r) once(bytes, header_end);
        return bytes;
    }
    uint64_t below(uint64_t n) { return n ? rng_() % n : 0; }

private:
    size_t position(const std::string& bytes, size_t header_end) {  // mostly inside the header
        if (bytes.empty()) return 0;
        return below(3) ? below(std::min(bytes.size(), std::max<size_t>(header_end, 1))) : below(bytes.size());
    }

    void once(std::string& b, size_t header_end) {
        static const uint32_t words[] = {0,           1,           0x7fffffffu, 0x80000000u,
                                         0xffffffffu, 0x10000000u, 0x00010000u, 0xfffffffeu};
        static const char* numbers[] = {
            "0", "-1", "99999999999999999999", "2305843009213693952", "1e400", "nan", "inf", "-0", "4294967296", "1.5"};
        static const char specials[] = {0,   '\xff', 0x7f, '\x80', '0', '9', '-', 'e', '.',
                                        ' ', '\'',   '"',  ',',    '(', ')', '{', '}', ':'};
        const size_t at = position(b, header_end);
        switch (below(10)) {
            case 0:
                if (!b.empty()) b[at] ^= (char)(1u << below(8));
                break;
            case 1:
                if (!b.empty()) b[at] = (char)below(256);
                break;
            case 2:
                if (!b.empty()) b[at] = specials[below(sizeof specials)];
                break;
            case 3: {
                if (b.size() < 4) break;
                const uint32_t w = words[below(8)];
                const size_t p = std::min(at, b.size() - 4);
                for (int k = 0; k < 4; ++k)
                    b[p + k] = (char)(below(2) ? (w >> (8 * (3 - k))) : (w >> (8 * k)));  // big or little endian
                break;
            }
            case 4: b.resize(below(b.size() + 1)); break;
            case 5:
                for (int n = 1 + (int)below(16); n > 0; --n) b += (char)below(256);
                break;
            case 6: b.erase(std::min(at, b.size()), 1 + below(8)); break;
            case 7:
                if (!b.empty()) b.insert(at, b.substr(position(b, header_end), 1 + below(16)));
                break;
            default: {  // replace a run of digits (or insert) with a boundary number as text
                size_t end = at;
                while (end < b.size() && b[end] >= '0' && b[end] <= '9') ++end;
                b.replace(std::min(at, b.size()), end - at, numbers[below(10)]);
            }
        }
    }

    std::mt19937_64 rng_;
};

// One loader: its valid file, how to mutate it and how to load it.
struct Target {
    std::string original;  // valid bytes
    size_t header_end = 0;
    std::vector<std::string> field_words;  // a refusal is clear when it names the file and one of these
    // Writes the mutated bytes where the loader reads them, returns the path it names in messages.
    std::function<std::string(const std::string& mutated, Mutator& m)> place;
    // Loads; returns true when the accepted file is valid by its format (independent check).
    std::function<bool(const std::string& path, const std::string& mutated)> load;
};

// Equal as Python dict literals up to spacing and the dict's optional trailing comma.
bool header_equal_up_to_spacing(std::string a, std::string b) {
    auto squeeze = [](std::string& s) {
        std::erase_if(s, [](char c) { return c == ' ' || c == '\t' || c == '\n'; });
        if (s.ends_with(",}")) s.erase(s.size() - 2, 1);
    };
    squeeze(a), squeeze(b);
    return a == b;
}

Target idx_target(const std::string& scratch) {
    std::string good = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 4};
    for (int k = 0; k < 48; ++k) good += (char)(k * 5);
    Target t;
    t.original = good, t.header_end = 16;
    t.field_words = {"magic", "dimension", "header", "values", "corrupt", "truncated"};
    t.place = [scratch](const std::string& mutated, Mutator& m) {
        const std::string path = scratch + (m.below(4) == 0 ? "/images.gz" : "/images");
        if (path.ends_with(".gz")) {
            std::string packed = gzip_bytes(mutated, scratch);
            if (m.below(2)) packed = m.mutate(packed, 20);  // the compressed stream itself
            write_plain(path, packed);
        } else {
            write_plain(path, mutated);
        }
        return path;
    };
    t.load = [](const std::string& path, const std::string&) {
        const IdxArray a = read_idx(path, 3);
        std::string encoded = {0, 0, 8, 3};
        for (int d : a.dims)
            for (int shift = 24; shift >= 0; shift -= 8) encoded += (char)((d >> shift) & 0xff);
        encoded.append(a.values.begin(), a.values.end());
        return encoded == gunzip_file(path);
    };
    return t;
}

Target npy_target(const std::string& scratch) {
    Tensor M(3, 4);
    for (size_t k = 0; k < M.size(); ++k) M[k] = 0.25 * k - 1;
    write_npy(scratch + "/valid.npy", M);
    Target t;
    t.original = read_file(scratch + "/valid.npy"), t.header_end = 128;
    t.field_words = {"magic", "version", "header", "'descr'", "'shape'", "'fortran_order'", "non-finite entry"};
    t.place = [scratch](const std::string& mutated, Mutator&) {
        write_plain(scratch + "/m.npy", mutated);
        return scratch + "/m.npy";
    };
    t.load = [scratch](const std::string& path, const std::string& mutated) {
        const Tensor loaded = read_npy_matrix(path);
        write_npy(scratch + "/again.npy", loaded);  // same shape and values, canonical header
        const std::string again = read_file(scratch + "/again.npy");
        const size_t ours = 10 + (uint8_t)again[8] + ((size_t)(uint8_t)again[9] << 8),
                     data = mutated.size() - loaded.size() * sizeof(double);
        return mutated.compare(0, 8, again, 0, 8) == 0 &&
            mutated.substr(data) == again.substr(ours) &&  // magic, version 1.0, values
            header_equal_up_to_spacing(mutated.substr(10, data - 10), again.substr(10, ours - 10));
    };
    return t;
}

Target checkpoint_target(const std::string& scratch) {
    Model net = make_mlp(MlpSpec::parse("3-4-2", Activation::Tanh, true));
    for (size_t k = 0; k < net.size(); ++k) net.theta()[k] = 0.1 * k - 1;
    write_checkpoint(scratch + "/valid.bin", net, 7);
    Target t;
    t.original = read_file(scratch + "/valid.bin"), t.header_end = 12 + t.original[8];
    t.field_words = {"magic", "checksum", "header", "field", "parameters"};
    t.place = [scratch](const std::string& mutated, Mutator& m) {
        std::string bytes = mutated;
        if (bytes.size() >= 16 && m.below(2))
            put_u32_le(bytes, bytes.size() - 4,
                       (uint32_t)crc32(0, (const Bytef*)bytes.data(), (uInt)(bytes.size() - 4)));
        write_plain(scratch + "/m.bin", bytes);
        return scratch + "/m.bin";
    };
    t.load = [scratch](const std::string& path, const std::string&) {
        Model back = make_mlp(MlpSpec::parse("3-4-2", Activation::Tanh, true));  // the layout a reader expects
        const int epoch = read_checkpoint(path, back);
        const std::string bytes = read_file(path);
        write_checkpoint(scratch + "/again.bin", back, epoch);
        const uint32_t header_length =
            (uint8_t)bytes[8] | (uint8_t)bytes[9] << 8 | (uint8_t)bytes[10] << 16 | (uint32_t)(uint8_t)bytes[11] << 24;
        return read_file(scratch + "/again.bin") == bytes || nlohmann::json::accept(bytes.substr(12, header_length));
    };
    return t;
}

Target run_json_target(const std::string& scratch) {
    const std::string dir = scratch + "/run";
    make_directories(dir);
    DataConfig c;
    c.source = "synthetic", c.inputs = 5, c.classes = 3, c.train_per_class = 4, c.test = 6;
    write_split_npy(dir, load_data(c));
    Mlp net(MlpSpec::parse("5-4-3", Activation::Relu, false));
    Rng rng(1);
    initialize(net.model, Init::PyTorch, 1.0, rng);
    write_weights_npy(dir, net);
    const std::string summary =
        R"({"arch": "5-4-3", "activation": "relu", "bias": false, "loss": "ce", "epochs": 3, "n_train": 12})";
    write_plain(dir + "/summary.json", summary);
    write_manifest(dir, "fuzz");
    const std::string manifest = read_file(dir + "/manifest.json");
    Target t;
    t.original = summary, t.header_end = summary.size();
    t.field_words = {"field", "JSON", "checksum", "bytes", "listed", "missing", "manifest"};
    // Alternately summary.json (with the manifest repaired half of the time) and manifest.json.
    t.place = [dir, summary, manifest](const std::string& mutated, Mutator& m) {
        write_plain(dir + "/summary.json", summary);
        write_plain(dir + "/manifest.json", manifest);
        if (m.below(2)) {
            write_plain(dir + "/manifest.json", m.mutate(manifest, manifest.size()));
            return dir + "/manifest.json";
        }
        write_plain(dir + "/summary.json", mutated);
        if (m.below(2)) write_manifest(dir, "fuzz");
        return dir + "/summary.json";
    };
    t.load = [dir](const std::string& path, const std::string&) {
        load_run(dir);
        return nlohmann::json::accept(read_file(path));
    };
    return t;
}

Target target(const std::string& loader, const std::string& scratch) {
    if (loader == "idx") return idx_target(scratch);
    if (loader == "npy") return npy_target(scratch);
    if (loader == "checkpoint") return checkpoint_target(scratch);
    if (loader == "run-json") return run_json_target(scratch);
    throw std::invalid_argument("unknown loader '" + loader + "'");
}

void note(Tally& t, const std::string& what, const std::string& message) {
    if (t.examples.size() < 12) t.examples.push_back(what + ": " + message);
}

}  // namespace

const std::vector<std::string>& loader_names() {
    static const std::vector<std::string> names = {"idx", "npy", "run-json", "checkpoint"};
    return names;
}

Tally run(const std::string& loader, long mutations, uint64_t seed, const std::string& scratch) {
    make_directories(scratch);
    const Target t = target(loader, scratch);
    Mutator m(seed);
    Tally tally;
    tally.loader = loader;
    for (long i = 0; i < mutations; ++i) {
        const std::string mutated = m.mutate(t.original, t.header_end);
        const std::string path = t.place(mutated, m);
        ++tally.mutations;
        try {
            if (t.load(path, mutated)) {
                ++tally.accepted_valid;
            } else {
                ++tally.accepted_invalid;
                note(tally, "accepted invalid",
                     path + " (mutation " + std::to_string(i) + "): " +
                         nlohmann::json(mutated.substr(0, 140))
                             .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
            }
        } catch (const std::bad_alloc& e) {
            ++tally.allocation, note(tally, "allocation", e.what());
        } catch (const std::length_error& e) {
            ++tally.allocation, note(tally, "allocation", e.what());
        } catch (const std::exception& e) {
            const std::string message = e.what(), name = std::filesystem::path(path).filename().string();
            bool field = false;
            for (const std::string& w : t.field_words) field = field || message.find(w) != std::string::npos;
            if (message.find(name) != std::string::npos && field) {
                ++tally.clear;
            } else {
                ++tally.vague, note(tally, "vague", message);
            }
        }
    }
    return tally;
}

std::string scratch_root() {
    std::error_code error;
    return std::filesystem::is_directory("/dev/shm", error) && access("/dev/shm", W_OK) == 0
        ? "/dev/shm"
        : std::filesystem::temp_directory_path().string();
}

std::string describe(const Tally& t) {
    return t.loader + ": " + std::to_string(t.mutations) + " mutations: " + std::to_string(t.accepted_valid) +
        " valid and loaded, " + std::to_string(t.clear) + " refused clearly, " + std::to_string(t.vague) + " vague, " +
        std::to_string(t.accepted_invalid) + " accepted though invalid, " + std::to_string(t.allocation) +
        " allocation failures";
}

}  // namespace awd::fuzz
