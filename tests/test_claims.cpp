// test_claims.cpp: the claims scorecard's reader (experiments/common/claims.h): every comparison
// op at and beside its edge, "not measured" for a missing file, key, row or column, errors that
// name the file, claim and field for malformed claims files, an ambiguous CSV row as an error,
// and the report (a failed claim without a cause is flagged, figures are linked relative to it).
#include <doctest/doctest.h>

#include <unistd.h>
#include <filesystem>
#include <string>

#include "experiments/common/claims.h"
#include "nn/files.h"

using namespace awd;

namespace {

// A paper folder "demo" in a fresh temporary root, with a JSON and a CSV result file.
struct Demo {
    std::string root, folder;
    Demo() {
        static int counter = 0;
        root = (std::filesystem::temp_directory_path() /
                ("awd-claims-" + std::to_string(getpid()) + "-" + std::to_string(counter++)))
                   .string();
        folder = root + "/demo";
        make_directories(folder + "/results");
        write_file_atomically(folder + "/results/r.json", R"({"a": {"b": 2.5, "list": [1, 3]}, "text": "x"})");
        write_file_atomically(folder + "/results/r.csv",
                              "part,lr,score\nring,0.1,0.75\nring,0.2,\ngrid,0.1,1.5\ngrid,0.1,1.6\n");
    }
    ~Demo() { std::filesystem::remove_all(root); }
};

std::string claims_text(const std::string& claim_body) {
    return R"({"paper": "Demo 2026", "claims": [{"id": "demo-one", "claim": "a claim", "quantity": "a number", )" +
        claim_body + "}]}";
}

Claim parse_one(const std::string& claim_body, const std::string& folder = "experiments/demo") {
    return parse_claims(claims_text(claim_body), "demo/claims.json", folder).claims.at(0);
}

ClaimExpected expected(const std::string& json) {
    return parse_one(R"("source": {"file": "results/r.json", "pointer": "/a/b"}, "expected": )" + json).expected;
}

std::string error_of(const std::string& text) {
    try {
        parse_claims(text, "demo/claims.json", "experiments/demo");
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("claims: every op holds on its side of the edge and fails on the other") {
    CHECK(claim_holds(expected(R"({"op": ">", "value": 1})"), 1.0001));
    CHECK_FALSE(claim_holds(expected(R"({"op": ">", "value": 1})"), 1.0));
    CHECK(claim_holds(expected(R"({"op": ">=", "value": 1})"), 1.0));
    CHECK_FALSE(claim_holds(expected(R"({"op": ">=", "value": 1})"), 0.9999));
    CHECK(claim_holds(expected(R"({"op": "<", "value": -0.5})"), -0.6));
    CHECK_FALSE(claim_holds(expected(R"({"op": "<", "value": -0.5})"), -0.5));
    CHECK(claim_holds(expected(R"({"op": "<=", "value": -0.5})"), -0.5));
    CHECK_FALSE(claim_holds(expected(R"({"op": "<=", "value": -0.5})"), -0.4));
    const ClaimExpected between = expected(R"({"op": "between", "range": [0.85, 1.15]})");
    CHECK(claim_holds(between, 0.85));
    CHECK(claim_holds(between, 1.15));
    CHECK_FALSE(claim_holds(between, 0.84));
    CHECK_FALSE(claim_holds(between, 1.16));
    const ClaimExpected absolute = expected(R"({"op": "within", "value": 2, "tolerance": 0.25})");
    CHECK(claim_holds(absolute, 1.75));
    CHECK(claim_holds(absolute, 2.25));
    CHECK_FALSE(claim_holds(absolute, 2.26));
    const ClaimExpected relative = expected(R"({"op": "within", "value": -4, "rel_tolerance": 0.1})");
    CHECK(claim_holds(relative, -3.61));
    CHECK(claim_holds(relative, -4.39));
    CHECK_FALSE(claim_holds(relative, -3.59));
    CHECK_FALSE(claim_holds(relative, -4.41));
    CHECK(expected_text(between) == "between 0.85 and 1.15");
    CHECK(expected_text(relative) == "within -4 +- 10%");
}

TEST_CASE("claims: a JSON pointer and a CSV row are read; a missing file, key, row or column is not measured") {
    Demo d;
    const std::string tail = R"(, "expected": {"op": ">", "value": 2})";
    ClaimResult r =
        measure_claim(parse_one(R"("source": {"file": "results/r.json", "pointer": "/a/b"})" + tail), d.folder);
    CHECK(r.status == ClaimStatus::Held);
    CHECK(r.measured == 2.5);
    r = measure_claim(parse_one(R"("source": {"file": "results/r.json", "pointer": "/a/list/0"})" + tail), d.folder);
    CHECK(r.status == ClaimStatus::Failed);
    CHECK(r.measured == 1.0);
    r = measure_claim(
        parse_one(R"("source": {"file": "results/r.csv", "where": {"part": "grid", "lr": "0.1", "score": "1.5"}, )"
                  R"("column": "score"})" +
                  tail),
        d.folder);
    CHECK(r.status == ClaimStatus::Failed);
    CHECK(r.measured == 1.5);
    r = measure_claim(
        parse_one(R"("source": {"file": "results/r.csv", "where": {"part": "ring", "lr": "0.1"}, "column": "score"})" +
                  tail),
        d.folder);
    CHECK(r.measured == 0.75);

    const char* missing[] = {
        R"({"file": "results/none.json", "pointer": "/a/b"})",    // missing file
        R"({"file": "results/r.json", "pointer": "/a/c"})",       // missing key
        R"({"file": "results/r.json", "pointer": "/a/list/2"})",  // index past the end
        R"({"file": "results/r.json", "pointer": "/a/list/x"})",  // a key into an array
        R"({"file": "results/r.json", "pointer": "/text"})",      // not a number
        R"({"file": "results/r.csv", "where": {"part": "ring", "lr": "0.3"}, "column": "score"})",  // missing row
        R"({"file": "results/r.csv", "where": {"part": "ring", "lr": "0.2"}, "column": "score"})",  // empty cell
        R"({"file": "results/r.csv", "where": {"part": "ring"}, "column": "accuracy"})",            // missing column
        R"({"file": "results/r.csv", "where": {"seed": "1"}, "column": "score"})",  // missing where column
    };
    for (const char* source : missing) {
        CAPTURE(source);
        const ClaimResult m = measure_claim(parse_one(std::string(R"("source": )") + source + tail), d.folder);
        CHECK(m.status == ClaimStatus::NotMeasured);
        CHECK_FALSE(m.note.empty());
    }
}

TEST_CASE("claims: a CSV `where` that matches two rows is an error naming the file, claim and lines") {
    Demo d;
    const Claim c =
        parse_one(R"("source": {"file": "results/r.csv", "where": {"part": "grid", "lr": "0.1"}, "column": "score"}, )"
                  R"("expected": {"op": ">", "value": 1})");
    try {
        measure_claim(c, d.folder);
        FAIL("two matching rows were accepted");
    } catch (const std::runtime_error& e) {
        const std::string what = e.what();
        CHECK(what.find("results/r.csv") != std::string::npos);
        CHECK(what.find("demo-one") != std::string::npos);
        CHECK(what.find("source.where") != std::string::npos);
        CHECK(what.find("lines 4 and 5") != std::string::npos);
    }
}

TEST_CASE("claims: a malformed claims file is an error naming the file, the claim and the field") {
    const std::string source = R"("source": {"file": "results/r.json", "pointer": "/a/b"})";
    const std::string ok_expected = R"("expected": {"op": ">", "value": 1})";
    struct Case {
        std::string text, claim, field;
    };
    const Case cases[] = {
        {claims_text(source + R"(, "expected": {"op": "=>", "value": 1})"), "demo-one", "expected.op"},
        {claims_text(source + R"(, "expected": {"op": ">", "value": "1"})"), "demo-one", "expected.value"},
        {claims_text(source + R"(, "expected": {"op": "between", "range": [2, 1]})"), "demo-one", "expected.range"},
        {claims_text(source + R"(, "expected": {"op": "between", "value": 1})"), "demo-one", "expected.value"},
        {claims_text(source + R"(, "expected": {"op": "within", "value": 1})"), "demo-one", "expected.tolerance"},
        {claims_text(source + R"(, "expected": {"op": "within", "value": 1, "tolerance": 0.1, "rel_tolerance": 0.1})"),
         "demo-one", "expected.tolerance"},
        {claims_text(source), "demo-one", "expected"},
        {claims_text(ok_expected), "demo-one", "source"},
        {claims_text(R"("source": {"file": "results/r.json"}, )" + ok_expected), "demo-one", "source"},
        {claims_text(R"("source": {"pointer": "/a"}, )" + ok_expected), "demo-one", "source.file"},
        {claims_text(R"("source": {"file": "r.json", "pointer": "a/b"}, )" + ok_expected), "demo-one",
         "source.pointer"},
        {claims_text(R"("source": {"file": "r.csv", "where": {"lr": 0.1}, "column": "score"}, )" + ok_expected),
         "demo-one", "source.where.lr"},
        {claims_text(R"("source": {"file": "r.csv", "where": {"lr": "0.1"}}, )" + ok_expected), "demo-one", "source"},
        {claims_text(source + ", " + ok_expected + R"(, "authors": [1])"), "demo-one", "authors"},
        {claims_text(source + ", " + ok_expected + R"(, "figur": "x.png")"), "demo-one", "figur"},
        {R"({"paper": "Demo", "claims": [{"id": "other-one", "claim": "c", "quantity": "q", )" + source + ", " +
             ok_expected + "}]}",
         "#1", "id"},
        {R"({"paper": "Demo", "claims": [{"id": "demo-one", "quantity": "q", )" + source + ", " + ok_expected + "}]}",
         "demo-one", "claim"},
        {R"({"paper": "Demo", "claims": []})", "", "claims"},
        {R"({"claims": [1]})", "", "paper"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.text);
        const std::string what = error_of(c.text);
        REQUIRE_FALSE(what.empty());
        CHECK(what.find("demo/claims.json") != std::string::npos);
        CHECK(what.find("field \"" + c.field + "\"") != std::string::npos);
        if (!c.claim.empty()) CHECK(what.find("claim " + c.claim + ":") != std::string::npos);
    }
    const std::string twice = R"({"paper": "Demo", "claims": [{"id": "demo-one", "claim": "c", "quantity": "q", )" +
        source + ", " + ok_expected + R"(}, {"id": "demo-one", "claim": "c", "quantity": "q", )" + source + ", " +
        ok_expected + "}]}";
    CHECK(error_of(twice).find("used twice") != std::string::npos);
    CHECK(error_of("{not json").find("not valid JSON") != std::string::npos);
}

TEST_CASE("claims: the report flags a failed claim without a cause and links figures relative to itself") {
    Demo d;
    const std::string text = R"({"paper": "Demo 2026", "claims": [
        {"id": "demo-held", "claim": "b is large", "quantity": "b",
         "source": {"file": "results/r.json", "pointer": "/a/b"},
         "expected": {"op": ">", "value": 2}, "authors": 2.4, "figure": "results/b.png"},
        {"id": "demo-failed-known", "claim": "b is small", "quantity": "b",
         "source": {"file": "results/r.json", "pointer": "/a/b"},
         "expected": {"op": "<", "value": 2}, "cause": "the known cause"},
        {"id": "demo-failed-unknown", "claim": "b is tiny", "quantity": "b",
         "source": {"file": "results/r.json", "pointer": "/a/b"},
         "expected": {"op": "<", "value": 1}, "figure": "results/b.png"},
        {"id": "demo-missing", "claim": "c exists", "quantity": "c",
         "source": {"file": "results/r.json", "pointer": "/c"},
         "expected": {"op": ">", "value": 0}}]})";
    write_file_atomically(d.folder + "/claims.json", text);
    const PaperClaims paper = read_claims_file(d.folder);
    std::vector<ClaimResult> results;
    for (const Claim& c : paper.claims) results.push_back(measure_claim(c, d.folder));
    REQUIRE(results.size() == 4);
    CHECK(results[0].status == ClaimStatus::Held);
    CHECK(results[1].status == ClaimStatus::Failed);
    CHECK(results[2].status == ClaimStatus::Failed);
    CHECK(results[3].status == ClaimStatus::NotMeasured);
    const std::string md = claims_report({paper}, {results}, d.root);
    CHECK(md.find("| Demo 2026 | 4 | 1 | 2 | 1 |") != std::string::npos);
    CHECK(md.find("the known cause") != std::string::npos);
    // exactly one failed claim lacks a cause
    const std::string flag = "cause not investigated";
    const size_t first = md.find(flag);
    REQUIRE(first != std::string::npos);
    CHECK(md.find(flag, first + 1) == std::string::npos);
    CHECK(md.find("results/r.json has no /c") != std::string::npos);
    // the figure appears once, for both claims that name it, linked from the report's folder
    CHECK(md.find("](demo/results/b.png)") != std::string::npos);
    CHECK(md.find("`demo-held`, `demo-failed-unknown`:") != std::string::npos);
    CHECK(md.find("](demo/claims.json)") != std::string::npos);
}
