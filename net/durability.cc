#include "net/durability.h"

namespace boxoffice::net {

const char* durability_name(Durability durability) {
  switch (durability) {
    case Durability::kMemory:
      return "memory";
    case Durability::kJournal:
      return "journal";
    case Durability::kDb:
      return "db";
  }
  return "?";
}

}  // namespace boxoffice::net
