"""REST for reviews: my review of a book, a book's reviews and rating, likes, comments, reports,
and the moderators' queue, hide/restore and reviewing bans."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, post, put
from litestar.params import Parameter
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.ratelimit import RateLimiter
from domain.reading import events, review_social, reviews
from domain.reading.book_readers import BookReaders, book_readers
from domain.reading.review_schemas import (
    CommentIn,
    CommentOut,
    CommentPage,
    LikeOut,
    ModerationIn,
    RatingOut,
    ReportIn,
    ReportPage,
    ReviewIn,
    ReviewOut,
    ReviewPage,
)
from domain.settings import Settings

Cursor = Annotated[str | None, Parameter(description="next_cursor of the previous page")]
Limit = Annotated[int, Parameter(ge=1, le=100)]


async def _limit(redis: Redis, settings: Settings, user: Principal) -> None:
    """Rate limit on review writes per reader (429 with Retry-After past it)."""
    await RateLimiter(redis, "review_write", settings.review_write_rate,
                      settings.review_write_window).hit(str(user.user_id))


class MyReviewController(Controller):
    path = "/api/v1/me/books/{book_id:int}/review"
    tags = ["reviews"]

    @put("", summary="Write or edit my review of my current (or latest) read of a book")
    async def write(self, db: Database, redis: Redis, settings: Settings, user: Principal,
                    book_id: int, data: ReviewIn) -> ReviewOut:
        await _limit(redis, settings, user)
        happened: list[events.ReadingEvent] = []
        out = await reviews.write_review(db, user.user_id, book_id, data, events=happened)
        await events.after_commit(db, redis, happened)
        return out


class BookReviewsController(Controller):
    path = "/api/v1/books/{book_id:int}"
    tags = ["reviews"]

    @get("/reviews", summary="A book's reviews, newest first, spoilers redacted for readers behind")
    async def list_reviews(self, db: Database, maybe_user: Principal | None, book_id: int,
                           cursor: Cursor = None, limit: Limit = 20) -> ReviewPage:
        return await reviews.book_reviews(db, maybe_user, book_id, after=cursor, limit=limit)

    @get("/readers", summary="Who's reading it: counts, and the people I follow who read it")
    async def readers(self, db: Database, maybe_user: Principal | None,
                      book_id: int) -> BookReaders:
        return await book_readers(db, maybe_user, book_id)

    @get("/rating", summary="A book's rating: average, count and half-star histogram")
    async def rating(self, db: Database, book_id: int) -> RatingOut:
        return await reviews.rating_of(db, book_id)


class ReviewsController(Controller):
    path = "/api/v1/reviews/{review_id:int}"
    tags = ["reviews"]

    @get("", summary="One review, as this viewer may see it")
    async def get_review(self, db: Database, maybe_user: Principal | None,
                         review_id: int) -> ReviewOut:
        return await reviews.get_review(db, maybe_user, review_id)

    @delete("", summary="Delete my review")
    async def delete_review(self, db: Database, user: Principal, review_id: int) -> None:
        await reviews.delete_review(db, user.user_id, review_id)

    @post("/like", status_code=200, summary="Like a review")
    async def like(self, db: Database, redis: Redis, settings: Settings, user: Principal,
                   review_id: int) -> LikeOut:
        await _limit(redis, settings, user)
        return await review_social.like(db, redis, user, review_id, True)

    @delete("/like", status_code=200, summary="Take my like back")
    async def unlike(self, db: Database, redis: Redis, user: Principal,
                     review_id: int) -> LikeOut:
        return await review_social.like(db, redis, user, review_id, False)

    @get("/comments", summary="A review's comments, oldest first")
    async def list_comments(self, db: Database, maybe_user: Principal | None, review_id: int,
                            cursor: Cursor = None, limit: Limit = 50) -> CommentPage:
        return await review_social.comments(db, maybe_user, review_id, after=cursor,
                                            limit=limit)

    @post("/comments", summary="Comment on a review")
    async def comment(self, db: Database, redis: Redis, settings: Settings, user: Principal,
                      review_id: int, data: CommentIn) -> CommentOut:
        await _limit(redis, settings, user)
        return await review_social.add_comment(db, redis, user, review_id, data)

    @delete("/comments/{comment_id:int}", summary="Delete a comment (its author, the review's"
            " author or a moderator)")
    async def delete_comment(self, db: Database, user: Principal, review_id: int,
                             comment_id: int) -> None:
        await review_social.delete_comment(db, user, review_id, comment_id)

    @post("/reports", status_code=204, summary="Report a review to the moderators")
    async def report(self, db: Database, redis: Redis, settings: Settings, user: Principal,
                     review_id: int, data: ReportIn) -> None:
        await _limit(redis, settings, user)
        await review_social.report(db, user, review_id, data)


class ReviewModerationController(Controller):
    path = "/api/v1/moderation"
    tags = ["reviews"]

    @get("/review-reports", summary="Open review reports, oldest first (moderators)")
    async def queue(self, db: Database, user: Principal, cursor: Cursor = None,
                    limit: Limit = 50) -> ReportPage:
        return await review_social.report_queue(db, user, after=cursor, limit=limit)

    @post("/reviews/{review_id:int}/hide", status_code=204, summary="Hide a review (reason)")
    async def hide(self, db: Database, user: Principal, review_id: int,
                   data: ModerationIn) -> None:
        await review_social.set_hidden(db, user, review_id, True, data.reason)

    @post("/reviews/{review_id:int}/restore", status_code=204, summary="Restore a hidden review")
    async def restore(self, db: Database, user: Principal, review_id: int,
                      data: ModerationIn) -> None:
        await review_social.set_hidden(db, user, review_id, False, data.reason)

    @put("/review-bans/{handle:str}", status_code=204, summary="Ban a reader from reviewing")
    async def ban(self, db: Database, user: Principal, handle: str, data: ModerationIn) -> None:
        await review_social.set_ban(db, user, handle, True, data.reason)

    @delete("/review-bans/{handle:str}", summary="Lift a reviewing ban")
    async def unban(self, db: Database, user: Principal, handle: str) -> None:
        await review_social.set_ban(db, user, handle, False, "")


CONTROLLERS = [MyReviewController, BookReviewsController, ReviewsController,
               ReviewModerationController]
