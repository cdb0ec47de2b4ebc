// claims.cpp: reading claims.json, measuring each claim from its result file, the Markdown report.
#include "experiments/common/claims.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>

#include "nn/files.h"

namespace awd {

namespace {

struct OpName {
    ClaimOp op;
    const char* name;
};
const OpName kOps[] = {{ClaimOp::Greater, ">"},    {ClaimOp::GreaterEqual, ">="}, {ClaimOp::Less, "<"},
                       {ClaimOp::LessEqual, "<="}, {ClaimOp::Between, "between"}, {ClaimOp::Within, "within"}};

struct StatusName {
    ClaimStatus status;
    const char* name;
};
const StatusName kStatuses[] = {
    {ClaimStatus::Held, "held"}, {ClaimStatus::Failed, "failed"}, {ClaimStatus::NotMeasured, "not measured"}};

// Errors name the file, the claim (by id once it is known, else by index) and the field.
struct Context {
    std::string path, claim;
    [[noreturn]] void fail(const std::string& field, const std::string& what) const {
        throw std::runtime_error(path + ": " + (claim.empty() ? "" : "claim " + claim + ": ") + "field \"" + field +
                                 "\": " + what);
    }
};

void only_keys(const nlohmann::json& object, const std::set<std::string>& allowed, const Context& ctx,
               const std::string& field) {
    for (auto it = object.begin(); it != object.end(); ++it)
        if (!allowed.count(it.key()))
            ctx.fail(field.empty() ? it.key() : field + "." + it.key(), "unknown field (a misspelling?)");
}

std::string required_string(const nlohmann::json& object, const std::string& key, const Context& ctx,
                            const std::string& field) {
    if (!object.contains(key)) ctx.fail(field, "missing");
    const nlohmann::json& v = object.at(key);
    if (!v.is_string() || v.get<std::string>().empty()) ctx.fail(field, "must be a non-empty string, is " + v.dump());
    return v.get<std::string>();
}

std::string optional_string(const nlohmann::json& object, const std::string& key, const Context& ctx) {
    if (!object.contains(key)) return "";
    return required_string(object, key, ctx, key);
}

double required_number(const nlohmann::json& object, const std::string& key, const Context& ctx,
                       const std::string& field) {
    if (!object.contains(key)) ctx.fail(field, "missing");
    const nlohmann::json& v = object.at(key);
    if (!v.is_number() || !std::isfinite(v.get<double>())) ctx.fail(field, "must be a finite number, is " + v.dump());
    return v.get<double>();
}

ClaimExpected parse_expected(const nlohmann::json& e, const Context& ctx) {
    if (!e.is_object()) ctx.fail("expected", "must be an object like {\"op\": \">\", \"value\": 1}");
    ClaimExpected x;
    const std::string op = required_string(e, "op", ctx, "expected.op");
    bool known = false;
    for (const OpName& o : kOps)
        if (op == o.name) x.op = o.op, known = true;
    if (!known) ctx.fail("expected.op", "unknown op \"" + op + "\" (one of >, >=, <, <=, between, within)");
    if (x.op == ClaimOp::Between) {
        only_keys(e, {"op", "range"}, ctx, "expected");
        if (!e.contains("range")) ctx.fail("expected.range", "missing (between needs \"range\": [lo, hi])");
        const nlohmann::json& r = e.at("range");
        if (!r.is_array() || r.size() != 2 || !r[0].is_number() || !r[1].is_number())
            ctx.fail("expected.range", "must be [lo, hi], two numbers, is " + r.dump());
        x.low = r[0].get<double>(), x.high = r[1].get<double>();
        if (!(x.low <= x.high)) ctx.fail("expected.range", "lo must not exceed hi, is " + r.dump());
    } else if (x.op == ClaimOp::Within) {
        only_keys(e, {"op", "value", "tolerance", "rel_tolerance"}, ctx, "expected");
        x.value = required_number(e, "value", ctx, "expected.value");
        const bool absolute = e.contains("tolerance"), relative = e.contains("rel_tolerance");
        if (absolute == relative)
            ctx.fail("expected.tolerance", "within needs exactly one of \"tolerance\" and \"rel_tolerance\"");
        x.relative = relative;
        x.tolerance = required_number(e, relative ? "rel_tolerance" : "tolerance", ctx,
                                      relative ? "expected.rel_tolerance" : "expected.tolerance");
        if (x.tolerance < 0)
            ctx.fail(relative ? "expected.rel_tolerance" : "expected.tolerance", "must not be negative");
    } else {
        only_keys(e, {"op", "value"}, ctx, "expected");
        x.value = required_number(e, "value", ctx, "expected.value");
    }
    return x;
}

void parse_source(const nlohmann::json& s, Claim& c, const Context& ctx) {
    if (!s.is_object())
        ctx.fail("source", "must be an object with \"file\" and \"pointer\" (JSON) or \"where\" and \"column\" (CSV)");
    only_keys(s, {"file", "pointer", "where", "column"}, ctx, "source");
    c.file = required_string(s, "file", ctx, "source.file");
    if (s.contains("pointer")) {
        if (s.contains("where") || s.contains("column"))
            ctx.fail("source", "either \"pointer\" (JSON) or \"where\" and \"column\" (CSV), not both");
        if (!s.at("pointer").is_string()) ctx.fail("source.pointer", "must be a string, is " + s.at("pointer").dump());
        c.pointer = s.at("pointer").get<std::string>();
        try {
            (void)nlohmann::json::json_pointer(c.pointer);
        } catch (const nlohmann::json::exception& e) {
            ctx.fail("source.pointer", "\"" + c.pointer + "\" is not a JSON pointer (RFC 6901): " + e.what());
        }
        return;
    }
    if (!s.contains("where") || !s.contains("column"))
        ctx.fail("source", "needs \"pointer\" (JSON) or both \"where\" and \"column\" (CSV)");
    const nlohmann::json& w = s.at("where");
    if (!w.is_object() || w.empty())
        ctx.fail("source.where", "must be a non-empty object of column: cell strings, is " + w.dump());
    for (auto it = w.begin(); it != w.end(); ++it) {
        if (!it.value().is_string())
            ctx.fail("source.where." + it.key(),
                     "must be a string (cells are compared as text), is " + it.value().dump());
        c.where.emplace_back(it.key(), it.value().get<std::string>());
    }
    c.column = required_string(s, "column", ctx, "source.column");
}

std::vector<std::string> split_csv_line(const std::string& line) {  // the project's CSVs quote nothing
    std::vector<std::string> cells;
    std::string cell;
    std::istringstream in(line);
    while (std::getline(in, cell, ',')) cells.push_back(cell);
    if (!line.empty() && line.back() == ',') cells.push_back("");
    return cells;
}

std::string trim_cr(std::string s) {
    if (!s.empty() && s.back() == '\r') s.pop_back();
    return s;
}

std::string number_text(double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%.4g", v);
    return text;
}

std::string cell_text(std::string s) {  // a Markdown table cell: no pipes or line breaks
    for (char& ch : s)
        if (ch == '\n') ch = ' ';
    std::string out;
    for (char ch : s) out += ch == '|' ? std::string("\\|") : std::string(1, ch);
    return out;
}

std::string source_text(const Claim& c) {
    if (!c.pointer.empty() || c.column.empty()) return c.file + c.pointer;
    std::string where;
    for (const auto& [k, v] : c.where) where += (where.empty() ? "" : ", ") + k + "=" + v;
    return c.file + " [" + where + "] " + c.column;
}

}  // namespace

const char* claim_status_name(ClaimStatus status) {
    for (const StatusName& s : kStatuses)
        if (s.status == status) return s.name;
    throw std::logic_error("claim_status_name: a status without a name");
}

PaperClaims parse_claims(const std::string& text, const std::string& path, const std::string& folder) {
    Context ctx{path, ""};
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        throw std::runtime_error(path + ": not valid JSON: " + e.what());
    }
    if (!j.is_object()) throw std::runtime_error(path + ": must be a JSON object with \"paper\" and \"claims\"");
    only_keys(j, {"paper", "claims"}, ctx, "");
    PaperClaims p;
    p.folder = folder;
    p.paper = required_string(j, "paper", ctx, "paper");
    if (!j.contains("claims") || !j.at("claims").is_array() || j.at("claims").empty())
        ctx.fail("claims", "must be a non-empty array of claims");
    const std::string prefix = std::filesystem::path(folder).filename().string() + "-";
    const std::regex kebab("[a-z0-9]+(-[a-z0-9]+)*");
    std::set<std::string> ids;
    for (size_t k = 0; k < j.at("claims").size(); ++k) {
        const nlohmann::json& e = j.at("claims")[k];
        ctx.claim = "#" + std::to_string(k + 1);
        if (!e.is_object()) ctx.fail("claims", "each claim must be an object");
        Claim c;
        c.id = required_string(e, "id", ctx, "id");
        if (!std::regex_match(c.id, kebab) || c.id.rfind(prefix, 0) != 0)
            ctx.fail("id",
                     "\"" + c.id + "\" must be kebab-case and start with the paper folder's name, \"" + prefix + "\"");
        if (!ids.insert(c.id).second) ctx.fail("id", "\"" + c.id + "\" is used twice");
        ctx.claim = c.id;
        only_keys(e, {"id", "claim", "quantity", "source", "expected", "authors", "figure", "cause"}, ctx, "");
        c.claim = required_string(e, "claim", ctx, "claim");
        c.quantity = required_string(e, "quantity", ctx, "quantity");
        if (!e.contains("source")) ctx.fail("source", "missing");
        parse_source(e.at("source"), c, ctx);
        if (!e.contains("expected")) ctx.fail("expected", "missing");
        c.expected = parse_expected(e.at("expected"), ctx);
        if (e.contains("authors")) {
            c.authors = e.at("authors");
            if (!c.authors.is_number() && !c.authors.is_string())
                ctx.fail("authors", "must be a number or a text, is " + c.authors.dump());
        }
        c.figure = optional_string(e, "figure", ctx);
        c.cause = optional_string(e, "cause", ctx);
        p.claims.push_back(std::move(c));
    }
    return p;
}

PaperClaims read_claims_file(const std::string& folder) {
    const std::string path = folder + "/claims.json";
    return parse_claims(read_file(path), path, folder);
}

bool claim_holds(const ClaimExpected& e, double m) {
    switch (e.op) {
        case ClaimOp::Greater: return m > e.value;
        case ClaimOp::GreaterEqual: return m >= e.value;
        case ClaimOp::Less: return m < e.value;
        case ClaimOp::LessEqual: return m <= e.value;
        case ClaimOp::Between: return e.low <= m && m <= e.high;
        case ClaimOp::Within:
            return std::abs(m - e.value) <= (e.relative ? e.tolerance * std::abs(e.value) : e.tolerance);
    }
    return false;
}

std::string expected_text(const ClaimExpected& e) {
    for (const OpName& o : kOps) {
        if (o.op != e.op) continue;
        if (e.op == ClaimOp::Between) return "between " + number_text(e.low) + " and " + number_text(e.high);
        if (e.op == ClaimOp::Within)
            return "within " + number_text(e.value) + " +- " +
                (e.relative ? number_text(100 * e.tolerance) + "%" : number_text(e.tolerance));
        return std::string(o.name) + " " + number_text(e.value);
    }
    throw std::logic_error("expected_text: an op without a name");
}

ClaimResult measure_claim(const Claim& c, const std::string& folder) {
    const std::string path = folder + "/" + c.file;
    if (!file_exists(path)) return {ClaimStatus::NotMeasured, 0, c.file + " does not exist"};
    double value = 0;
    if (c.column.empty()) {
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(read_file(path));
        } catch (const nlohmann::json::parse_error& e) {
            throw std::runtime_error(path + " (source of claim " + c.id + "): not valid JSON: " + e.what());
        }
        const nlohmann::json::json_pointer pointer(c.pointer);
        bool found = false;
        try {
            found = j.contains(pointer);
        } catch (const nlohmann::json::exception&) {  // e.g. a key where an array index is needed
        }
        if (!found) return {ClaimStatus::NotMeasured, 0, c.file + " has no " + c.pointer};
        const nlohmann::json& v = j.at(pointer);
        if (!v.is_number()) return {ClaimStatus::NotMeasured, 0, c.file + c.pointer + " is not a number: " + v.dump()};
        value = v.get<double>();
    } else {
        std::istringstream in(read_file(path));
        std::string line;
        if (!std::getline(in, line)) return {ClaimStatus::NotMeasured, 0, c.file + " is empty"};
        const std::vector<std::string> header = split_csv_line(trim_cr(line));
        auto column_of = [&](const std::string& name) {
            for (size_t k = 0; k < header.size(); ++k)
                if (header[k] == name) return (long)k;
            return -1L;
        };
        const long target = column_of(c.column);
        if (target < 0) return {ClaimStatus::NotMeasured, 0, c.file + " has no column " + c.column};
        std::vector<std::pair<long, std::string>> keys;
        for (const auto& [name, cell] : c.where) {
            const long k = column_of(name);
            if (k < 0) return {ClaimStatus::NotMeasured, 0, c.file + " has no column " + name};
            keys.emplace_back(k, cell);
        }
        std::string found_cell;
        long found_line = 0, line_number = 1;
        while (std::getline(in, line)) {
            ++line_number;
            const std::vector<std::string> cells = split_csv_line(trim_cr(line));
            bool match = true;
            for (const auto& [k, cell] : keys) match = match && k < (long)cells.size() && cells[k] == cell;
            if (!match) continue;
            if (found_line > 0)
                throw std::runtime_error(path + ": claim " + c.id +
                                         ": field \"source.where\" matches two rows (lines " +
                                         std::to_string(found_line) + " and " + std::to_string(line_number) +
                                         "); it must select exactly one");
            found_line = line_number;
            found_cell = target < (long)cells.size() ? cells[target] : "";
        }
        if (found_line == 0)
            return {ClaimStatus::NotMeasured, 0, c.file + " has no row " + source_text(c).substr(c.file.size() + 1)};
        size_t used = 0;
        try {
            value = std::stod(found_cell, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (found_cell.empty() || used != found_cell.size())
            return {ClaimStatus::NotMeasured, 0,
                    c.file + " line " + std::to_string(found_line) + ": " + c.column + " is not a number: \"" +
                        found_cell + "\""};
    }
    if (!std::isfinite(value)) return {ClaimStatus::NotMeasured, value, source_text(c) + " is not finite"};
    return {claim_holds(c.expected, value) ? ClaimStatus::Held : ClaimStatus::Failed, value, ""};
}

std::string claims_report(const std::vector<PaperClaims>& papers, const std::vector<std::vector<ClaimResult>>& results,
                          const std::string& report_dir) {
    std::ostringstream md;
    md << "# Claims\n\n"
          "Generated by `awd claims` (`make claims`) from the committed results: every claim of every paper, the "
          "number that\n"
          "measures it (read from the result file its paper's make target writes) and what the paper expects. Do not "
          "edit by hand.\n\n"
          "| paper | claims | held | failed | not measured |\n|---|---|---|---|---|\n";
    for (size_t p = 0; p < papers.size(); ++p) {
        std::map<ClaimStatus, int> count;
        for (const ClaimResult& r : results[p]) ++count[r.status];
        md << "| " << cell_text(papers[p].paper) << " | " << papers[p].claims.size() << " | "
           << count[ClaimStatus::Held] << " | " << count[ClaimStatus::Failed] << " | "
           << count[ClaimStatus::NotMeasured] << " |\n";
    }
    // links relative to the report, so they work on a Git host
    const std::filesystem::path base =
        std::filesystem::absolute(report_dir.empty() ? "." : report_dir).lexically_normal();
    auto link_to = [&](const std::string& folder, const std::string& file) {
        return (std::filesystem::absolute(folder) / file).lexically_normal().lexically_relative(base).generic_string();
    };
    for (size_t p = 0; p < papers.size(); ++p) {
        const PaperClaims& paper = papers[p];
        const std::string claims_link = link_to(paper.folder, "claims.json");
        md << "\n## " << paper.paper << "\n\n"
           << "Claims from [" << claims_link << "](" << claims_link << "); sources relative to " << paper.folder
           << ".\n\n"
           << "| claim | quantity (source) | measured | expected | authors | status | cause "
              "|\n|---|---|---|---|---|---|---|\n";
        std::vector<std::string> figures;
        std::map<std::string, std::string> figure_claims;
        for (size_t k = 0; k < paper.claims.size(); ++k) {
            const Claim& c = paper.claims[k];
            const ClaimResult& r = results[p][k];
            std::string cause = c.cause;
            if (r.status == ClaimStatus::Failed && cause.empty()) cause = "**cause not investigated**";
            if (r.status == ClaimStatus::NotMeasured) cause = r.note + (cause.empty() ? "" : "; " + cause);
            if (r.status == ClaimStatus::Held) cause = c.cause;
            const std::string authors = c.authors.is_null() ? ""
                : c.authors.is_string()                     ? c.authors.get<std::string>()
                                                            : number_text(c.authors.get<double>());
            const std::string status =
                r.status == ClaimStatus::Failed ? std::string("**failed**") : claim_status_name(r.status);
            md << "| `" << c.id << "`: " << cell_text(c.claim) << " | " << cell_text(c.quantity) << " (`"
               << cell_text(source_text(c)) << "`) | "
               << (r.status == ClaimStatus::NotMeasured ? "-" : number_text(r.measured)) << " | "
               << expected_text(c.expected) << " | " << cell_text(authors) << " | " << status << " | "
               << cell_text(cause) << " |\n";
            if (c.figure.empty()) continue;
            if (!figure_claims.count(c.figure)) figures.push_back(c.figure);
            figure_claims[c.figure] += (figure_claims[c.figure].empty() ? "" : ", ") + ("`" + c.id + "`");
        }
        if (figures.empty()) continue;
        md << "\n### Figures\n";
        for (const std::string& f : figures) {
            const std::string link = link_to(paper.folder, f);
            md << "\n" << figure_claims[f] << ":\n\n![" << f << "](" << link << ")\n";
        }
    }
    return md.str();
}

}  // namespace awd
