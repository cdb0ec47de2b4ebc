// test_main.cpp: doctest's runner, plus a listener that ends the run with the plain line
// "tests: N passed, M failed" that CI reads in any language.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

namespace {

unsigned g_passed = 0, g_failed = 0;

struct PassFailLine : doctest::IReporter {
    explicit PassFailLine(const doctest::ContextOptions&) {}
    void report_query(const doctest::QueryData&) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats& s) override {
        g_passed = s.numTestCasesPassingFilters - s.numTestCasesFailed;
        g_failed = s.numTestCasesFailed;
    }
    void test_case_start(const doctest::TestCaseData&) override {}
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats&) override {}
    void test_case_exception(const doctest::TestCaseException&) override {}
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData&) override {}
    void log_message(const doctest::MessageData&) override {}
    void test_case_skipped(const doctest::TestCaseData&) override {}
};

}  // namespace

REGISTER_LISTENER("pass_fail_line", 1, PassFailLine);

int main(int argc, char** argv) {
    doctest::Context context(argc, argv);
    const int status = context.run();
    if (g_passed + g_failed > 0) std::printf("tests: %u passed, %u failed\n", g_passed, g_failed);
    return status;
}
