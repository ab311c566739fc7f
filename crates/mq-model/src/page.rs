//! Paging for list operations: pages count from 1.

use serde::{Deserialize, Serialize};

/// Which page of a listing to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    /// Page number, from 1.
    pub page: u64,
    /// Items per page, at least 1.
    pub page_size: u64,
}

impl Page {
    /// Page `page` (from 1) of `page_size` items; zeros are raised to 1.
    pub fn new(page: u64, page_size: u64) -> Self {
        Self { page: page.max(1), page_size: page_size.max(1) }
    }

    /// How many items come before this page.
    pub fn skip(&self) -> u64 {
        (self.page.max(1) - 1).saturating_mul(self.page_size)
    }

    /// Cuts this page out of a full, already sorted listing.
    pub fn slice<T>(&self, all: Vec<T>) -> Paged<T> {
        let total = all.len() as u64;
        let items = all
            .into_iter()
            .skip(usize::try_from(self.skip()).unwrap_or(usize::MAX))
            .take(usize::try_from(self.page_size).unwrap_or(usize::MAX))
            .collect();
        Paged { items, total, page: self.page, page_size: self.page_size }
    }
}

impl Default for Page {
    fn default() -> Self {
        Self { page: 1, page_size: 20 }
    }
}

/// One page of a listing, with the total across all pages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Paged<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// How many items match across all pages.
    pub total: u64,
    /// This page's number, from 1.
    pub page: u64,
    /// The page size asked for.
    pub page_size: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_pages() {
        let all: Vec<u32> = (0..45).collect();
        let p = Page::new(3, 20).slice(all.clone());
        assert_eq!(p.items, (40..45).collect::<Vec<_>>());
        assert_eq!(p.total, 45);
        assert!(Page::new(4, 20).slice(all.clone()).items.is_empty());
        assert_eq!(Page::new(0, 0), Page::new(1, 1));
        assert_eq!(Page::new(1, 10).slice(all).items.len(), 10);
    }
}
