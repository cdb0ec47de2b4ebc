// claims.h: the claims scorecard. Each paper folder keeps claims.json (format: the claim, the
// quantity that measures it, where that number is in a committed result file, what the paper
// expects of it); this reads those files, reads every claim's number from its result file, and
// writes one Markdown report (held / failed / not measured, with causes and figures).
//
// What it is not: it computes nothing from raw runs. Every number it shows is read from a file
// that a paper's make target writes; a missing file, key or row is "not measured", never a guess.
// A claims file that does not follow the format is an error naming the file, the claim and the field.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace awd {

enum class ClaimOp { Greater, GreaterEqual, Less, LessEqual, Between, Within };

struct ClaimExpected {
    ClaimOp op = ClaimOp::Greater;
    double value = 0;          // >, >=, <, <=, within
    double low = 0, high = 0;  // between: [low, high]
    double tolerance = 0;      // within: |measured - value| <= tolerance (absolute) ...
    bool relative = false;     // ... or <= tolerance |value| (rel_tolerance)
};

struct Claim {
    std::string id, claim, quantity;
    std::string file;                                        // relative to the paper folder
    std::string pointer;                                     // JSON: an RFC 6901 pointer ...
    std::vector<std::pair<std::string, std::string>> where;  // ... or CSV: cells that select one row,
    std::string column;                                      //     and the column read from it
    ClaimExpected expected;
    nlohmann::json authors;     // null when the authors published no value
    std::string figure, cause;  // optional
};

struct PaperClaims {
    std::string folder;  // the paper folder, e.g. experiments/aw
    std::string paper;   // its short title
    std::vector<Claim> claims;
};

// Parses one claims.json; throws "FILE: claim ID: field FIELD: what is wrong" on any departure from the format.
PaperClaims parse_claims(const std::string& text, const std::string& path, const std::string& folder);
PaperClaims read_claims_file(const std::string& folder);  // FOLDER/claims.json

enum class ClaimStatus { Held, Failed, NotMeasured };
const char* claim_status_name(ClaimStatus status);

struct ClaimResult {
    ClaimStatus status = ClaimStatus::NotMeasured;
    double measured = 0;  // when measured
    std::string note;     // when not measured: which file, key or row is missing
};

bool claim_holds(const ClaimExpected& expected, double measured);
std::string expected_text(const ClaimExpected& expected);  // e.g. "<= -0.5", "within 1 +- 0.15"
// Reads the claim's number from its source under `folder`. A CSV `where` that matches two rows is
// an error (the claim is ambiguous), not "not measured".
ClaimResult measure_claim(const Claim& claim, const std::string& folder);

// The report: a summary table over the papers, then per paper a row per claim and the figures the
// claims name, linked relative to the report's own folder `report_dir`.
std::string claims_report(const std::vector<PaperClaims>& papers, const std::vector<std::vector<ClaimResult>>& results,
                          const std::string& report_dir);

}  // namespace awd
