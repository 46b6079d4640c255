/* help.c — the --help text: commands, options and exit codes. */
#include <stdio.h>

#include "cli.h"

#ifndef LK_SYSCONFDIR
#define LK_SYSCONFDIR "/etc"
#endif

static const char help_text[] =
    "Usage: latchkey [--config FILE] [--json] COMMAND ...\n"
    "Issue and check API credentials (CAM-style SecretId/SecretKey pairs and\n"
    "named API keys). Only Argon2id hashes of secrets are stored.\n"
    "\n"
    "Global options (accepted anywhere on the line):\n"
    "  --config FILE   configuration file (default: $LATCHKEY_CONFIG, else\n"
    "                  " LK_SYSCONFDIR "/latchkey/latchkey.yaml)\n"
    "  --json          print results and errors as JSON on stdout\n"
    "  -h, --help      show this help;  --version  show the version\n"
    "\n"
    "Commands:\n"
    "  init [--backend lmdb|flatfile] [--store PATH]\n"
    "        write a new config at the --config path (never overwrites one,\n"
    "        creates missing directories 0700) and create its store; PATH is\n"
    "        relative to the config file's directory\n"
    "  user add UIN [--kind root|sub-user|collaborator] [--root ROOT_UIN]\n"
    "  user list [--root ROOT_UIN]\n"
    "  user show UIN\n"
    "  user delete UIN [--force]     --force also deletes the user's keys\n"
    "  key create UIN                prints the SecretId and SecretKey; the\n"
    "                                SecretKey is shown this one time only\n"
    "  key list UIN\n"
    "  key show SECRETID\n"
    "  key enable|disable SECRETID [--uin UIN]\n"
    "  key delete SECRETID [--uin UIN]   only a disabled key can be deleted\n"
    "  apikey create ROOT_UIN --name NAME [--description TEXT]\n"
    "        [--scope all|SVC[,SVC...]] [--allow-ip ADDR[,ADDR...]]\n"
    "                                prints the API key; shown this one time only\n"
    "  apikey list ROOT_UIN\n"
    "  apikey show ID | apikey show --account ROOT_UIN --name NAME\n"
    "  apikey edit ID [--description TEXT] [--scope all|SVC,...]\n"
    "        [--allow-ip ADDR,...|none]   (a key's name cannot be changed)\n"
    "  apikey enable|disable|delete ID\n"
    "  verify SECRETID [--ip ADDR] [--service NAME]\n"
    "                                the SecretKey is read from stdin (first line)\n"
    "  verify --apikey [--ip ADDR] [--service NAME]\n"
    "                                the API key is read from stdin (first line)\n"
    "  records KEYID                 latest access records of a SecretId or an\n"
    "                                API key id (lk-...), newest first\n"
    "  help                          show this help\n"
    "\n"
    "UINs are decimal numbers 1..9223372036854775807.\n"
    "Secrets are never accepted on the command line and never shown again.\n"
    "\n"
    "Exit status:\n"
    "  0  success; verification allowed\n"
    "  1  the operation was refused (limit reached, no such user or key,\n"
    "     key still enabled, name taken, ...)\n"
    "  2  usage error: unknown command or option, missing or extra argument,\n"
    "     bad number, or an argument the library finds malformed\n"
    "     (InvalidParameter.ParamError)\n"
    "  3  verification denied (AuthFailure.*)\n"
    "  4  configuration error (InvalidParameter.Config)\n"
    "  5  store or system error (FailedOperation.Storage, .StorePermission,\n"
    "     .StoreFull, InternalError)\n"
    "\n"
    "Errors go to stderr as `latchkey: CODE: message`; with --json to stdout as\n"
    "{\"Response\":{\"Error\":{\"Code\":...,\"Message\":...},\"RequestId\":...}}.\n";

void help_print(FILE *f)
{
    fputs(help_text, f);
}

void help_usage_hint(FILE *f)
{
    fputs("Try 'latchkey --help' for more information.\n", f);
}
