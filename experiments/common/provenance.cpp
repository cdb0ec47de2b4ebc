// provenance.cpp: the provenance record, --config from a summary, and the --out folder check.
#include "experiments/common/provenance.h"

#include <cblas.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>
#include <vector>

#include "autodiff/product.h"
#include "experiments/common/run_dir.h"
#include "nn/files.h"

// The Makefile bakes these in (build/commit.txt holds the values of the last build).
#ifndef AWD_VERSION
#define AWD_VERSION "unknown"
#endif
#ifndef AWD_COMMIT
#define AWD_COMMIT "unknown"
#endif

namespace awd {

namespace {

// The flags a run is known by; not recorded: how to read them, whether to replace the folder.
bool is_recorded(const std::string& name) { return name != "help" && name != "config" && name != "overwrite"; }

using Flags = std::map<std::string, std::vector<std::string>>;

struct Invocation {
    std::string command;
    std::vector<std::string> command_line;
    Flags flags;
};
Invocation g_invocation;

nlohmann::json flags_json(const Flags& flags) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [name, values] : flags)
        j[name] = values.size() == 1 ? nlohmann::json(values[0]) : nlohmann::json(values);
    return j;
}

// Reads provenance.flags of a summary as CLI11 config items of the command it records. The file
// name is the --config option's value (CLI11 hands over only the stream).
class SummaryConfig : public CLI::Config {
public:
    explicit SummaryConfig(const CLI::App* app) : app_(app) {}

    std::string to_config(const CLI::App*, bool, bool, std::string) const override {
        return flags_json(g_invocation.flags).dump(2);
    }

    std::vector<CLI::ConfigItem> from_config(std::istream& in) const override {
        const std::string file =
            app_->get_config_ptr()->results().empty() ? "--config" : app_->get_config_ptr()->results().back();
        auto refuse = [&](const std::string& problem) { return CLI::ConfigError("--config " + file + ": " + problem); };
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(in);
        } catch (const nlohmann::json::exception& e) {
            throw refuse("not valid JSON (" + std::string(e.what()) + ")");
        }
        const nlohmann::json* p = j.is_object() && j.contains("provenance") ? &j["provenance"] : nullptr;
        if (!p || !p->is_object() || !p->contains("command") || !(*p)["command"].is_string() || !p->contains("flags") ||
            !(*p)["flags"].is_object())
            throw refuse(
                "field provenance.command or provenance.flags is missing: not a summary an awd with provenance wrote");
        const std::string command = (*p)["command"];
        const CLI::App* sub = nullptr;
        for (const CLI::App* candidate : app_->get_subcommands({}))
            if (candidate->get_name() == command) sub = candidate;
        if (!sub) throw refuse("field provenance.command: awd has no command '" + command + "'");
        const std::vector<CLI::App*> chosen = app_->get_subcommands();  // parsed before the config is read
        if (!chosen.empty() && chosen.front()->get_name() != command)
            throw refuse("records a run of `awd " + command + "`, not of `awd " + chosen.front()->get_name() + "`");
        std::vector<CLI::ConfigItem> items;
        for (const auto& [name, value] : (*p)["flags"].items()) {
            const std::string where = "field provenance.flags." + name;
            if (!is_recorded(name) || !sub->get_option_no_throw("--" + name))
                throw refuse(where + ": awd " + command + " has no flag --" + name);
            CLI::ConfigItem item;
            item.parents = {command}, item.name = name;
            if (value.is_string()) item.inputs = {value.get<std::string>()};
            for (const nlohmann::json& v : value.is_array() ? value : nlohmann::json::array()) {
                if (!v.is_string()) throw refuse(where + ": not a string or a list of strings");
                item.inputs.push_back(v.get<std::string>());
            }
            if (item.inputs.empty()) throw refuse(where + ": not a string or a list of strings");
            items.push_back(item);
        }
        return items;
    }

private:
    const CLI::App* app_;
};

std::string shown(const std::vector<std::string>& values) {
    std::string text;
    for (const std::string& v : values) text += (text.empty() ? "" : ",") + v;
    return text.empty() ? "(not given)" : text;
}

// The --out folder of this invocation, when it holds a summary: same run, other run, or no record.
void check_out_folder(const CLI::App& sub) {
    const CLI::Option* out_option = sub.get_option_no_throw("--out");
    if (!out_option) return;
    const std::string out = out_option->count() > 0 ? out_option->results().back() : out_option->get_default_str();
    if (out.empty() || sub.get_option("--overwrite")->count() > 0 || !file_exists(out + "/summary.json")) return;
    const std::string advice = "; give --overwrite to replace it, or choose another --out";
    std::string command;
    Flags there;
    try {
        const nlohmann::json recorded = nlohmann::json::parse(read_file(out + "/summary.json")).at("provenance");
        command = recorded.at("command").get<std::string>();
        for (const auto& [name, value] : recorded.at("flags").items())
            there[name] = value.is_array() ? value.get<std::vector<std::string>>()
                                           : std::vector<std::string>{value.get<std::string>()};
    } catch (const std::exception&) {
        throw std::runtime_error(
            out +
            " holds a run without a readable provenance record (an older awd, or an edited summary.json): it will "
            "not be replaced" +
            advice);
    }
    if (command != sub.get_name())
        throw std::runtime_error(out + " holds a run of `awd " + command + "`, not of `awd " + sub.get_name() + "`" +
                                 advice);
    // a flag not given has its default; a flag this awd does not have, none
    auto default_of = [&](const std::string& name) {
        const CLI::Option* opt = sub.get_option_no_throw("--" + name);
        return std::vector<std::string>{opt ? opt->get_default_str() : ""};
    };
    std::string differences;
    std::set<std::string> names;
    for (const auto& [name, values] : there) names.insert(name);
    for (const auto& [name, values] : g_invocation.flags) names.insert(name);
    for (const std::string& name : names) {
        if (name == "out") continue;
        const std::vector<std::string> here =
            g_invocation.flags.count(name) ? g_invocation.flags.at(name) : default_of(name);
        const std::vector<std::string> theirs = there.count(name) ? there.at(name) : default_of(name);
        if (here != theirs)
            differences += (differences.empty() ? "" : ", ") + ("--" + name) + " " + shown(here) +
                " (there: " + shown(theirs) + ")";
    }
    if (!differences.empty())
        throw std::runtime_error(out + " holds a run of `awd " + command + "` with other flags: " + differences +
                                 advice);
    try {
        if (file_exists(out + "/manifest.json")) verify_run_folder(out);
    } catch (const std::exception& e) {
        std::printf("awd %s: %s holds this run but incomplete (%s): running it again\n", command.c_str(), out.c_str(),
                    e.what());
        return;
    }
    std::printf("awd %s: %s already holds this run (same command and flags, complete): nothing to do\n",
                command.c_str(), out.c_str());
    std::fflush(stdout);
    throw CLI::Success();
}

}  // namespace

std::string version_text() { return std::string("awd ") + AWD_VERSION + " (commit " + AWD_COMMIT + ")"; }

void add_run_options(CLI::App& app, int argc, char** argv) {
    app.set_version_flag("--version", version_text(), "print the version and the commit it was built from");
    app.set_config("--config", "",
                   "rerun: the flags a summary.json recorded (provenance.flags); flags given override them");
    app.config_formatter(std::make_shared<SummaryConfig>(&app));
    for (CLI::App* sub : app.get_subcommands({})) {
        sub->fallthrough();  // `awd COMMAND --config FILE`: --config belongs to the app
        if (sub->get_option_no_throw("--out"))
            sub->add_flag("--overwrite")->description("replace an existing run folder written with other flags");
    }
    app.parse_complete_callback([&app, argc, argv] {
        const CLI::App& sub = *app.get_subcommands().front();
        g_invocation.command = sub.get_name();
        g_invocation.command_line.assign(argv, argv + argc);
        for (const CLI::Option* opt : sub.get_options())
            if (opt->count() > 0 && is_recorded(opt->get_single_name()))
                g_invocation.flags[opt->get_single_name()] = opt->results();
        check_out_folder(sub);
    });
}

nlohmann::json provenance() {
    return {{"version", AWD_VERSION},
            {"commit", AWD_COMMIT},
            {"command", g_invocation.command},
            {"command_line", g_invocation.command_line},
            {"flags", flags_json(g_invocation.flags)},
            {"threads", threads()},
            {"blas", {{"core", openblas_get_corename()}, {"config", openblas_get_config()}}}};
}

nlohmann::json with_provenance(nlohmann::json summary) {
    summary["provenance"] = provenance();
    return summary;
}

}  // namespace awd
