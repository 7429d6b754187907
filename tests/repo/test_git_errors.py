"""Git failures are mapped once, in storage/git_diagnose, into a GitError that always has a hint."""

from __future__ import annotations

import pytest

from ptrain.errors import ConcurrentUpdate, GitError, GitLocked, RemoteError
from ptrain.storage.git import RefOp
from ptrain.storage.git_diagnose import diagnose

CASES = [
    (("fetch",), "fatal: '/x/y.git' does not appear to be a git repository\nfatal: Could not read "
     "from remote repository.\n\nPlease make sure you have the correct access rights\nand the "
     "repository exists.\n", RemoteError, "/x/y.git"),
    (("push",), "remote: frozen until Monday\nTo /r.git\n ! [remote rejected] a -> a (pre-receive "
     "hook declined)\nerror: failed to push some refs to '/r.git'\n", RemoteError, "frozen until Monday"),
    (("push",), " ! [rejected] a -> a (stale info)\n", RemoteError, "changed meanwhile"),
    (("update-ref",), "fatal: cannot lock ref 'refs/tags/x': is at 1 but expected 2\n",
     ConcurrentUpdate, "x was changed by someone else"),
    (("update-ref",), "fatal: cannot lock ref 'refs/tags/x': Unable to create '/r/.git/refs/tags/"
     "x.lock': File exists.\n", GitLocked, "ref refs/tags/x is locked"),
    (("commit-tree",), "fatal: not a valid object name abc\n", GitError, "not a valid object name"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "stderr", "kind", "needle"), CASES)
def test_each_failure_has_a_message_and_a_hint(args, stderr, kind, needle):
    exc = diagnose(args, stderr, 128, "origin")
    assert isinstance(exc, kind) and isinstance(exc, GitError)
    assert needle in exc.message and "\n" not in exc.message
    assert exc.hint


def test_a_real_failure_is_mapped(triage_repo):
    with pytest.raises(GitError) as exc:
        triage_repo.git.commit_tree("0" * 40, [], "x")
    assert exc.value.hint and "commit-tree" in exc.value.message
    head = triage_repo.git.head_commit()
    with pytest.raises(ConcurrentUpdate):  # a lost compare-and-swap in a transaction
        triage_repo.git.transaction([RefOp("update", "refs/heads/main", head, "1" * 40)])
