// kindred journal ...: add, list, show, edit, rm, import, export.
#include <sys/stat.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/context.h"
#include "cli/terminal.h"
#include "kindred/journal.h"
#include "kindred/timefmt.h"

namespace kindred::cli {
namespace {

using nlohmann::json;

struct JournalArgs {
  std::vector<std::string> words;
  std::string id;
  bool shared = false;
  bool private_only = false;
  int mood = 0;
  std::vector<std::string> tags;
  std::string tag;
  std::string since;
  bool purge = false;
  std::string file;
  std::string out;
};

std::string JoinWords(const std::vector<std::string>& words) {
  std::string text;
  for (const auto& w : words) {
    if (!text.empty()) text += ' ';
    text += w;
  }
  return text;
}

// The entry text from the arguments, or from stdin when it is "-".
Result<std::string> ReadText(const Context& ctx, const std::vector<std::string>& words) {
  if (words.size() == 1 && words[0] == "-") {
    KINDRED_ASSIGN_OR_RETURN(std::string text, ctx.ReadStdin());
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return text;
  }
  std::string text = JoinWords(words);
  if (text.empty()) return Status::InvalidArgument("write something: the entry's text is missing");
  return text;
}

std::string FirstLine(const std::string& text, size_t max) {
  std::string line = text.substr(0, text.find('\n'));
  if (line.size() > max) {
    size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
    line = line.substr(0, cut) + "…";
  }
  return line;
}

void PrintEntryLine(const JournalEntry& e) {
  std::string when = FormatIsoLocal(e.created_micros).substr(0, 16);
  when[10] = ' ';
  std::cout << e.id << "  " << when << "  " << (e.visibility == Visibility::kShared ? "shared " : "private");
  if (e.mood) std::cout << "  mood " << *e.mood;
  std::cout << "  " << FirstLine(e.text, 60);
  for (const auto& t : e.tags) std::cout << " #" << t;
  if (e.conflict) std::cout << "  [conflict: " << e.versions.size() << " versions]";
  std::cout << "\n";
}

int WithJournal(Context& ctx, const std::function<int(Journal&)>& fn) {
  auto engine = ctx.OpenEngine();
  if (!engine.ok()) return Fail(engine.status());
  Journal journal(**engine);
  return fn(journal);
}

int RunAdd(Context& ctx, const JournalArgs& a) {
  auto text = ReadText(ctx, a.words);
  if (!text.ok()) return Fail(text.status());
  NewEntry entry;
  entry.text = *text;
  if (a.mood) entry.mood = a.mood;
  entry.tags = a.tags;
  entry.visibility = a.shared ? Visibility::kShared : Visibility::kPrivate;
  Status valid = Journal::Validate(entry);
  if (!valid.ok()) return Fail(valid);
  return WithJournal(ctx, [&](Journal& j) {
    auto id = j.Add(entry);
    if (!id.ok()) return Fail(id.status());
    if (ctx.json) {
      std::cout << json{{"id", *id}}.dump() << "\n";
    } else {
      std::cout << *id << "\n";
      std::cerr << (a.shared ? "Saved. It will be shared with your partner once you pair.\n"
                             : "Saved, just for you.\n");
    }
    return kExitOk;
  });
}

int RunList(Context& ctx, const JournalArgs& a) {
  if (a.shared && a.private_only) {
    return Fail(Status::InvalidArgument("choose --shared or --private, not both"));
  }
  JournalFilter filter;
  if (a.shared) filter.visibility = Visibility::kShared;
  if (a.private_only) filter.visibility = Visibility::kPrivate;
  if (!a.tag.empty()) filter.tag = a.tag;
  if (!a.since.empty()) {
    auto since = ParseIsoTime(a.since);
    if (!since.ok()) return Fail(since.status().WithContext("--since"));
    filter.since_micros = *since;
  }
  return WithJournal(ctx, [&](Journal& j) {
    auto entries = j.List(filter);
    if (!entries.ok()) return Fail(entries.status());
    if (ctx.json) {
      std::cout << "[";
      for (size_t i = 0; i < entries->size(); ++i) {
        std::cout << (i ? "," : "") << Journal::ToJson((*entries)[i]);
      }
      std::cout << "]\n";
      return kExitOk;
    }
    if (entries->empty()) {
      std::cout << "No entries yet. Write one with: kindred journal add \"...\"\n";
      return kExitOk;
    }
    for (const auto& e : *entries) PrintEntryLine(e);
    return kExitOk;
  });
}

int RunShow(Context& ctx, const JournalArgs& a) {
  return WithJournal(ctx, [&](Journal& j) {
    auto e = j.Show(a.id);
    if (!e.ok()) return Fail(e.status());
    if (ctx.json) {
      std::cout << Journal::ToJson(*e) << "\n";
      return kExitOk;
    }
    std::cout << "id:         " << e->id << "\n"
              << "written:    " << FormatIsoLocal(e->created_micros) << " by " << e->author
              << " on " << e->device.ToString() << "\n";
    if (e->edited_micros > e->created_micros) {
      std::cout << "edited:     " << FormatIsoLocal(e->edited_micros) << "\n";
    }
    std::cout << "visibility: " << VisibilityName(e->visibility) << "\n";
    if (e->mood) std::cout << "mood:       " << *e->mood << " of 5\n";
    if (!e->tags.empty()) {
      std::cout << "tags:      ";
      for (const auto& t : e->tags) std::cout << " #" << t;
      std::cout << "\n";
    }
    if (e->conflict) {
      std::cout << "\nThis entry was changed on two devices at once. Both versions are kept:\n";
      for (size_t i = 0; i < e->versions.size(); ++i) {
        std::cout << "\n  version " << i + 1 << ":\n  " << e->versions[i] << "\n";
      }
      std::cout << "\nTo settle it, write the text you want to keep:\n"
                << "  kindred journal edit " << e->id << " \"...\"\n";
    } else {
      std::cout << "\n" << e->text << "\n";
    }
    return kExitOk;
  });
}

int RunEdit(Context& ctx, const JournalArgs& a) {
  auto text = ReadText(ctx, a.words);
  if (!text.ok()) return Fail(text.status());
  return WithJournal(ctx, [&](Journal& j) {
    Status s = j.Edit(a.id, *text);
    if (!s.ok()) return Fail(s);
    if (ctx.json) std::cout << json{{"id", a.id}}.dump() << "\n";
    else std::cout << "Updated " << a.id << ".\n";
    return kExitOk;
  });
}

int RunRemove(Context& ctx, const JournalArgs& a) {
  return WithJournal(ctx, [&](Journal& j) {
    Status s = j.Remove(a.id, a.purge);
    if (!s.ok()) return Fail(s);
    if (ctx.json) {
      std::cout << json{{"id", a.id}, {"purged", a.purge}}.dump() << "\n";
    } else if (a.purge) {
      std::cout << "Removed " << a.id << " and erased its text from this device's log; "
                << "other devices erase it as they sync.\n";
    } else {
      std::cout << "Removed " << a.id << ".\n";
    }
    return kExitOk;
  });
}

int RunImport(Context& ctx, const JournalArgs& a) {
  const std::string file = ctx.ResolvePath(a.file);
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    return Fail(Status::InvalidArgument("cannot open " + a.file + " to import: no such file"));
  }
  if (!S_ISREG(st.st_mode)) {
    return Fail(Status::InvalidArgument(a.file + " is not a regular file; import reads a JSON Lines file"));
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return Fail(Status::InvalidArgument("cannot open " + a.file + " to import"));
  uint64_t total = static_cast<uint64_t>(st.st_size);
  return WithJournal(ctx, [&](Journal& j) {
    ProgressBar bar("importing", ctx.Interactive());
    auto stats = j.Import(in, total, [&](uint64_t done, uint64_t all) { bar.Update(done, all); });
    if (!stats.ok()) return Fail(stats.status().WithContext(a.file));
    if (ctx.json) {
      std::cout << json{{"imported", stats->imported}, {"skipped", stats->skipped}}.dump() << "\n";
    } else {
      std::cout << "Imported " << stats->imported << (stats->imported == 1 ? " entry" : " entries");
      if (stats->skipped) std::cout << " (" << stats->skipped << " already here, skipped)";
      std::cout << ".\n";
    }
    return kExitOk;
  });
}

int RunExport(Context& ctx, const JournalArgs& a) {
  return WithJournal(ctx, [&](Journal& j) {
    if (a.out.empty()) {
      Status s = j.Export(std::cout);
      return s.ok() ? kExitOk : Fail(s);
    }
    // Written to a private temporary file, then renamed into place.
    const std::string target = ctx.ResolvePath(a.out);
    std::string tmp = target + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) return Fail(Status::InvalidArgument("cannot write to " + a.out));
      ::chmod(tmp.c_str(), 0600);
      Status s = j.Export(out);
      if (!s.ok()) return Fail(s);
    }
    if (std::rename(tmp.c_str(), target.c_str()) != 0) {
      return Fail(Status::IOError("cannot move the export into " + a.out));
    }
    std::cerr << "Exported your journal to " << a.out
              << ". It is plain text: keep it somewhere safe.\n";
    return kExitOk;
  });
}

}  // namespace

void AddJournalCommands(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<JournalArgs>();
  auto* journal = app.add_subcommand("journal", "Write and read your journal");
  journal->require_subcommand(1);

  auto bind = [&ctx, args](CLI::App* cmd, int (*run)(Context&, const JournalArgs&)) {
    cmd->callback([&ctx, args, run] { ctx.action = [&ctx, args, run] { return run(ctx, *args); }; });
  };

  auto* add = journal->add_subcommand("add", "Write a new entry (private unless --shared)");
  add->add_flag("--shared", args->shared, "Share it with your partner once you are paired");
  add->add_option("--mood", args->mood, "How you feel, from 1 (low) to 5 (great)")
      ->check(CLI::Range(1, 5));
  add->add_option("--tag", args->tags, "A tag; repeat for more")->allow_extra_args(false);
  add->add_option("text", args->words, "What you want to remember (- reads standard input)")
      ->required();
  bind(add, RunAdd);

  auto* list = journal->add_subcommand("list", "List entries, oldest first");
  list->add_flag("--shared", args->shared, "Only shared entries");
  list->add_flag("--private", args->private_only, "Only private entries");
  list->add_option("--tag", args->tag, "Only entries with this tag");
  list->add_option("--since", args->since, "Only entries written since DATE (YYYY-MM-DD)");
  bind(list, RunList);

  auto* show = journal->add_subcommand("show", "Show one entry in full");
  show->add_option("id", args->id, "The entry's id")->required();
  bind(show, RunShow);

  auto* edit = journal->add_subcommand("edit", "Replace an entry's text (and settle a conflict)");
  edit->add_option("id", args->id, "The entry's id")->required();
  edit->add_option("text", args->words, "The new text (- reads standard input)")->required();
  bind(edit, RunEdit);

  auto* rm = journal->add_subcommand("rm", "Remove an entry");
  rm->add_option("id", args->id, "The entry's id")->required();
  rm->add_flag("--purge", args->purge,
               "Also erase its encrypted text from the log, here and on your other devices");
  bind(rm, RunRemove);

  auto* import = journal->add_subcommand("import", "Import entries from a JSON Lines file");
  import->add_option("file", args->file, "The file (one JSON object per line)")->required();
  bind(import, RunImport);

  auto* exp = journal->add_subcommand("export", "Export every entry as JSON Lines");
  exp->add_option("--out", args->out, "Write to this file instead of standard output");
  bind(exp, RunExport);
}

}  // namespace kindred::cli
