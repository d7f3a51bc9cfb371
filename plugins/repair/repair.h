// The repair plugin (org.kindred.repair): conflict-repair notes. A couple
// opens a repair for a topic, each writes what they feel and need (as
// I-statements) or reflects back what the other said, writes down what they
// agree, and resolves it. The time from opening to resolving is kept:
// recovering faster after conflict is a sign of progress (see the stats
// plugin).
//
//   kindred repair open TOPIC
//   kindred repair note ID TEXT [--feeling F] [--need N] [--reflect]
//   kindred repair agree ID TEXT
//   kindred repair resolve ID
//   kindred repair show ID
//   kindred repair list
#ifndef KINDRED_PLUGINS_REPAIR_REPAIR_H_
#define KINDRED_PLUGINS_REPAIR_REPAIR_H_

#include <optional>
#include <string>

#include "kindred/plugin_abi.h"

extern "C" const kindred_plugin_api* kindred_repair_plugin_entry(void);

namespace kindred::repair {

// When `text` sounds like an accusation built on "you" ("you never
// listen", "it's your fault"), a gentler I-statement to try, using
// `feeling` and `need` when given; nullopt otherwise. A simple heuristic:
// it looks for accusing phrases and stays quiet when the text already says
// "I feel".
std::optional<std::string> SuggestIStatement(const std::string& text, const std::string& feeling,
                                             const std::string& need);

}  // namespace kindred::repair

#endif  // KINDRED_PLUGINS_REPAIR_REPAIR_H_
