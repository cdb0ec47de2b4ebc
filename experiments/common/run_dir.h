// run_dir.h: a run folder written as a unit, its manifest, its writer's lock, and the
// temporaries a killed writer leaves behind.
// Is not: what a run folder holds (run_folder.h).
//
// A writer never touches the folder a reader might be reading. It takes the lock
// `PARENT/.NAME.lock` (a POSIX record lock: released by the kernel when the process dies, so a
// kill leaves no stale lock, and the kernel names the holder's PID for the refusal message), removes what earlier killed
// writers left (NAME.partial-PID, NAME.replaced-PID), writes everything into the sibling
// NAME.partial-PID, adds manifest.json, and only then swaps that folder into place with one
// atomic rename (renameat2 RENAME_EXCHANGE when an old run is there). At every instant NAME is
// either the complete old run or the complete new one.
//
// manifest.json: {"run_id": "...", "files": [{"name": "W0.npy", "bytes": 123, "crc32": "89abcdef"}, ...]}
// lists every regular file at the folder's top level (subfolders such as duality-layer1 are
// analyses added later). Readers verify it before trusting any file of the run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace awd {

class RunFolderWriter {
public:
    // Takes the lock (or throws naming the holder's PID), clears stale temporaries and creates
    // the temporary sibling. Refuses a target that exists and is neither empty nor a run folder.
    explicit RunFolderWriter(const std::string& target);
    ~RunFolderWriter();  // without commit(): the temporary folder is removed, the old run stays
    RunFolderWriter(const RunFolderWriter&) = delete;
    RunFolderWriter& operator=(const RunFolderWriter&) = delete;

    const std::string& dir() const { return temporary_; }  // where the files go until commit()
    const std::string& target() const { return target_; }
    const std::string& run_id() const { return run_id_; }
    void commit();  // manifest, then the swap into place; the old run is removed afterwards

private:
    std::string target_, temporary_, run_id_;
    int lock_fd_ = -1;
    bool committed_ = false;
};

struct ManifestEntry {
    std::string name;
    uint64_t bytes = 0;
    uint32_t crc32 = 0;
};

struct Manifest {
    std::string run_id;
    std::vector<ManifestEntry> files;
};

// Writes DIR/manifest.json listing every regular file at DIR's top level.
void write_manifest(const std::string& dir, const std::string& run_id);
// Reads DIR/manifest.json and checks its structure; errors name the file and the field.
Manifest read_manifest(const std::string& dir);
// read_manifest, then every listed file: present, of the listed size, with the listed checksum.
// Throws naming the first file that does not belong to the run.
Manifest verify_run_folder(const std::string& dir);

// A long run that resumes after an interruption (awd continual, awd rl): its files go into
// OUT.partial beside a checkpoint, and the folder is renamed to OUT once the run is complete.
// An OUT.partial left by an interrupted run is resumed only when its settings.json equals this
// run's settings byte for byte; otherwise the constructor refuses, naming the folder.
class ResumableRunFolder {
public:
    // Creates OUT.partial if needed, checks an interrupted run's settings when `checkpoint` (a
    // file or folder name inside it) is there, and writes settings.json.
    ResumableRunFolder(const std::string& out, const std::string& settings_text, const std::string& checkpoint);
    const std::string& dir() const { return partial_; }  // OUT.partial
    bool resuming() const { return resuming_; }          // a checkpoint of these settings is there
    // Replaces OUT (only if it is a run folder: it holds summary.json) by the completed OUT.partial.
    void publish() const;

private:
    std::string out_, partial_;
    bool resuming_ = false;
};

// Leftovers of writers that were killed (or are still running) under root: run-folder
// temporaries (NAME.partial-PID, NAME.replaced-PID) and file temporaries (FILE.tmp.PID), each
// with " (process PID still running)" when it is.
std::vector<std::string> stale_temporaries(const std::string& root);

}  // namespace awd
