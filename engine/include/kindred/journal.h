// The private journal: entries with text, mood, tags and visibility, kept as
// records of the "journal" collection.
#ifndef KINDRED_JOURNAL_H_
#define KINDRED_JOURNAL_H_

#include <cstdint>
#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "kindred/engine.h"

namespace kindred {

enum class Visibility { kPrivate, kShared };

// "private" or "shared".
std::string_view VisibilityName(Visibility v);

// A journal entry as shown to its reader. Value type.
struct JournalEntry {
  std::string id;
  std::string text;
  std::optional<int> mood;  // 1 to 5
  std::vector<std::string> tags;
  Visibility visibility = Visibility::kPrivate;
  std::string author;  // member name
  DeviceId device;     // the device that wrote it
  int64_t created_micros = 0;
  int64_t edited_micros = 0;
  // Orders entries created within the same microsecond (the creating op's clock).
  uint64_t created_hlc = 0;
  // True when two devices changed the text concurrently; `versions` holds
  // every surviving text, oldest first. `journal edit` resolves it.
  bool conflict = false;
  std::vector<std::string> versions;
};

// A new entry, as given by the user or an import.
struct NewEntry {
  std::string text;
  std::optional<int> mood;
  std::vector<std::string> tags;
  Visibility visibility = Visibility::kPrivate;
  std::string id;                        // import only: keep this id
  std::optional<int64_t> created_micros; // import only: keep this time
};

struct JournalFilter {
  std::optional<Visibility> visibility;
  std::optional<std::string> tag;
  std::optional<int64_t> since_micros;
};

struct ImportStats {
  uint64_t imported = 0;
  uint64_t skipped = 0;  // entries whose id already exists here
};

// The journal over an engine. `engine` must outlive the Journal.
// Thread-safe as the engine is.
class Journal {
 public:
  static constexpr char kCollection[] = "journal";
  static constexpr size_t kMaxTextBytes = 64 * 1024;

  explicit Journal(Engine& engine) : engine_(engine) {}

  // Checks an entry: non-empty text up to 64 KiB, mood 1 to 5, tags non-empty.
  static Status Validate(const NewEntry& entry);

  // Adds one entry; returns its id.
  Result<std::string> Add(const NewEntry& entry);
  // Adds many entries in one atomic commit; returns their ids.
  Result<std::vector<std::string>> AddMany(const std::vector<NewEntry>& entries);
  // Replaces the text (and resolves a conflict).
  Status Edit(const std::string& id, const std::string& text);
  // Deletes; with `purge`, also erases the entry's ciphertext everywhere.
  Status Remove(const std::string& id, bool purge);
  Result<JournalEntry> Show(const std::string& id);
  // Entries matching `filter`, oldest first.
  Result<std::vector<JournalEntry>> List(const JournalFilter& filter);

  // Reads JSON Lines (one entry per line, fields as in Export; id optional)
  // in one streaming pass, committing in batches of `batch_size`. Every line
  // is checked before anything is written, so a bad line (named by number)
  // leaves the journal as it was. `input` must be seekable for that check;
  // if it is not, lines are checked as they come. `progress` gets bytes read.
  Result<ImportStats> Import(std::istream& input, uint64_t total_bytes, const ProgressFn& progress,
                             size_t batch_size = 1000);
  // Writes every entry as JSON Lines, oldest first.
  Status Export(std::ostream& out);

  // The JSON object for an entry (the stable --json shape, see docs/cli.md).
  static std::string ToJson(const JournalEntry& entry);

  // Moves shared entries that still live in the personal space (written
  // before pairing, or on a device that had not heard of it yet) into the
  // couple's shared space: each is created there with the same id, fields
  // and creation time, then deleted from the personal space. With
  // `only_this_device`, only entries this device wrote. Private entries
  // never move. Returns how many moved; 0 without a shared space.
  Result<size_t> MoveSharedEntries(bool only_this_device = false);

 private:
  Result<JournalEntry> FromRecord(const Record& record);
  // Where a new entry of this visibility goes: shared entries to the
  // couple's shared space once there is one, everything else (and shared
  // entries before pairing, flagged) to the personal space.
  SpaceId SpaceFor(Visibility visibility) const;
  // Every space entries are read from: the shared spaces, then the personal one.
  std::vector<SpaceId> ReadSpaces() const;
  // The space that holds entry `id` (NotFound if none).
  Result<SpaceId> SpaceOf(const std::string& id);

  Engine& engine_;
};

}  // namespace kindred

#endif  // KINDRED_JOURNAL_H_
