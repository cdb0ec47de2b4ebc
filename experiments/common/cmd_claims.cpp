// cmd_claims.cpp: `awd claims`, the claims scorecard: reads ROOT/*/claims.json, measures every claim
// from its committed result file and writes one Markdown report (experiments/CLAIMS.md). It trains
// nothing and runs nothing: regenerate a paper's results with its make target first.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "experiments/common/claims.h"
#include "experiments/common/commands.h"
#include "nn/files.h"

namespace awd {

namespace {

void run(const std::string& root, const std::string& out) {
    if (!std::filesystem::is_directory(root)) throw std::runtime_error("--root " + root + " is not a folder");
    std::vector<std::string> folders;
    for (const auto& entry : std::filesystem::directory_iterator(root))
        if (entry.is_directory() && file_exists(entry.path().string() + "/claims.json"))
            folders.push_back(entry.path().generic_string());
    if (folders.empty()) throw std::runtime_error("no claims files (" + root + "/*/claims.json)");
    std::sort(folders.begin(), folders.end());
    std::vector<PaperClaims> papers;
    std::vector<std::vector<ClaimResult>> results;
    std::map<std::string, std::string> owner;  // claim id -> its claims file: ids are unique across papers
    for (const std::string& folder : folders) {
        papers.push_back(read_claims_file(folder));
        results.emplace_back();
        for (const Claim& c : papers.back().claims) {
            if (owner.count(c.id))
                throw std::runtime_error(folder + "/claims.json: claim " + c.id + ": field \"id\": also used in " +
                                         owner[c.id]);
            owner[c.id] = folder + "/claims.json";
            results.back().push_back(measure_claim(c, folder));
        }
    }
    const std::filesystem::path out_dir = std::filesystem::path(out).parent_path();
    if (!out_dir.empty()) make_directories(out_dir.string());
    write_file_atomically(out, claims_report(papers, results, out_dir.string()));
    for (size_t p = 0; p < papers.size(); ++p) {
        std::map<ClaimStatus, int> count;
        for (const ClaimResult& r : results[p]) ++count[r.status];
        std::printf("%-12s %2zu claims: %2d held, %2d failed, %2d not measured\n", papers[p].folder.c_str(),
                    papers[p].claims.size(), count[ClaimStatus::Held], count[ClaimStatus::Failed],
                    count[ClaimStatus::NotMeasured]);
        for (size_t k = 0; k < papers[p].claims.size(); ++k)
            if (results[p][k].status == ClaimStatus::Failed && papers[p].claims[k].cause.empty())
                std::printf("  %s: failed, cause not investigated\n", papers[p].claims[k].id.c_str());
    }
    std::printf("wrote %s\n", out.c_str());
}

}  // namespace

void add_claims_command(CLI::App& app) {
    auto root = std::make_shared<std::string>("experiments"),
         out = std::make_shared<std::string>("experiments/CLAIMS.md");
    CLI::App* cmd = app.add_subcommand(
        "claims", "the claims scorecard: every paper's claims against its committed results, one Markdown report");
    cmd->add_option("--root", *root, "folder whose subfolders hold claims.json")->capture_default_str();
    cmd->add_option("--out", *out, "the report")->capture_default_str();
    cmd->callback([root, out] { run(*root, *out); });
}

}  // namespace awd
